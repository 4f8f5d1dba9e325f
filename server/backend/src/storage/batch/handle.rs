//! [`WaveDb`] on the SQLite write connection's own handle through `rusqlite`, synchronously
//! ([`SqliteBatch::Handle`]). sqlx runs each SQLite statement on the connection's worker
//! thread, and on two busy cores every such hand-off costs about as much as the statement; a
//! whole wave run on the handle costs none. The one `unsafe` block of the workspace is here.

use super::*;
use futures::FutureExt;

/// [`WaveDb`] on a SQLite connection's raw handle. Every method completes without waiting.
pub(crate) struct LiteWaves(rusqlite::Connection);

/// SQLite busy or locked is the database being unavailable (503, Chargebee retries), as for
/// sqlx's errors; anything else is an error of the batch.
pub(crate) fn lite_err(e: rusqlite::Error) -> StorageError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, TooBig};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StorageError::unavailable(e),
        Some(TooBig) => StorageError::Invalid(format!("SQLite: {e}")),
        _ => StorageError::Other(format!("SQLite: {e}")),
    }
}

impl LiteWaves {
    /// Prepares (cached for this wave run) and binds `args` to `$1…$n` by position.
    fn prepare(&self, sql: &str, args: &[Arg<'_>]) -> Result<rusqlite::CachedStatement<'_>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(lite_err)?;
        let n = args.len();
        let in_order = stmt.parameter_count() == n
            && (n == 0
                || (stmt.parameter_name(1) == Some("$1")
                    && stmt.parameter_name(n) == Some(format!("${n}").as_str())));
        if !in_order {
            return Err(StorageError::Other(format!(
                "statement placeholders are not $1…${n} in order: {sql}"
            )));
        }
        for (i, a) in args.iter().enumerate() {
            match a {
                Arg::Text(s) => stmt.raw_bind_parameter(i + 1, s.as_deref()),
                Arg::Int(v) => stmt.raw_bind_parameter(i + 1, *v),
            }
            .map_err(lite_err)?;
        }
        Ok(stmt)
    }
}

impl WaveDb for LiteWaves {
    async fn states(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<StateRow>> {
        let mut stmt = self.prepare(sql, args)?;
        let mut rows = stmt.raw_query();
        let mut out = vec![];
        while let Some(row) = rows.next().map_err(lite_err)? {
            out.push(StateRow::from_lite(row).map_err(lite_err)?);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let mut stmt = self.prepare(sql, args)?;
        Ok(stmt.raw_execute().map_err(lite_err)? as u64)
    }

    async fn parked(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Parked>> {
        let mut stmt = self.prepare(sql, args)?;
        let mut rows = stmt.raw_query();
        let mut out = vec![];
        while let Some(row) = rows.next().map_err(lite_err)? {
            let release: i64 = row.get("i").map_err(lite_err)?;
            out.push(Parked {
                release: usize::try_from(release).unwrap_or(0),
                id: row.get("id").map_err(lite_err)?,
            });
        }
        Ok(out)
    }

    async fn stored(&mut self, org: &OrgId, id: &str) -> Result<Option<Stored>> {
        let args = [
            Arg::Text(Some(org.as_str().into())),
            Arg::Text(Some(id.into())),
        ];
        let mut stmt = self.prepare(STORED_SQL, &args)?;
        let mut rows = stmt.raw_query();
        match rows.next().map_err(lite_err)? {
            Some(row) => Ok(Some(Stored {
                payload: row.get(0).map_err(lite_err)?,
                outcome: row.get(1).map_err(lite_err)?,
            })),
            None => Ok(None),
        }
    }

    async fn original(&mut self, org: &OrgId, event_id: &str) -> Result<Option<Original>> {
        let args = [text(org.as_str()), text(event_id)];
        let mut stmt = self.prepare(ORIGINAL_SQL, &args)?;
        let mut rows = stmt.raw_query();
        match rows.next().map_err(lite_err)? {
            Some(row) => Ok(Some(Original {
                id: row.get(0).map_err(lite_err)?,
                outcome: row.get(1).map_err(lite_err)?,
            })),
            None => Ok(None),
        }
    }

    async fn lock(&mut self, _keys: &[String]) -> Result<()> {
        // One writer: the transaction itself excludes every other.
        Ok(())
    }
}

/// Runs `op` on the write connection's raw handle ([`SqliteBatch::Handle`]).
pub(super) async fn run(
    conn: &mut sqlx::SqliteConnection,
    op: WaveOp<'_>,
    budget: &mut Budget,
) -> Result<Vec<EventOutcome>> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: `handle` keeps the connection locked for us (its worker thread waits) until
    // it drops. `from_handle` wraps the pointer without taking ownership: the rusqlite
    // connection never closes it, and it is dropped (finalizing its statements) before
    // `handle`. No await happens in between.
    #[allow(unsafe_code)]
    let conn = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }
        .map_err(lite_err)?;
    let mut db = LiteWaves(conn);
    let run = || {
        perform(&mut db, op, budget)
            .now_or_never()
            .unwrap_or_else(|| {
                Err(StorageError::Other(
                    "SQLite work did not complete synchronously".into(),
                ))
            })
    };
    // The batch runs synchronously on this thread (disk I/O, fsync at commit elsewhere).
    // On the multi-threaded runtime, `block_in_place` first hands this worker's other
    // tasks to another thread, so requests keep being served while it runs.
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let out = if multi_thread {
        tokio::task::block_in_place(run)
    } else {
        run()
    };
    drop(db);
    drop(handle);
    out
}

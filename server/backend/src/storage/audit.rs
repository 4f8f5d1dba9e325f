//! The audit log: appended to, and listed newest first. Nothing updates or deletes a row.

use super::backend::Backend;
use super::store::*;
use super::*;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    actor_kind: String,
    actor_id: Option<String>,
    actor_label: String,
    ip: Option<String>,
    action: String,
    target: Option<String>,
    changes: String,
}

#[async_trait]
impl<DB> Audit for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn append_audit(&self, org: &OrgId, e: &AuditEntry) -> Result<()> {
        let changes = serde_json::to_string(&e.changes)
            .map_err(|err| StorageError::Other(format!("audit changes: {err}")))?;
        sqlx::query(
            "INSERT INTO audit_log (id, org_id, at, actor_kind, actor_id, actor_label, ip, \
               action, target, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&e.id)
        .bind(org.as_str())
        .bind(e.at)
        .bind(&e.actor_kind)
        .bind(e.actor_id.as_deref())
        .bind(&e.actor_label)
        .bind(e.ip.as_deref())
        .bind(&e.action)
        .bind(e.target.as_deref())
        .bind(changes)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn audit_log(
        &self,
        org: &OrgId,
        filter: &AuditFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<AuditEntry>> {
        let (c_at, c_id) = newest_first_cursor(cursor);
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor_kind, actor_id, actor_label, ip, action, target, changes \
             FROM audit_log WHERE org_id = $1 \
               AND ($2 IS NULL OR substr(action, 1, length($2)) = $2) \
               AND ($3 IS NULL OR actor_label = $3) \
               AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
               AND ($7 = '' OR at < $6 OR (at = $6 AND id < $7)) \
             ORDER BY at DESC, id DESC LIMIT $8",
        )
        .bind(org.as_str())
        .bind(filter.action.as_deref())
        .bind(filter.actor.as_deref())
        .bind(filter.since)
        .bind(filter.until)
        .bind(c_at)
        .bind(&c_id)
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let entries = rows
            .into_iter()
            .map(|r| AuditEntry {
                changes: serde_json::from_str(&r.changes).unwrap_or_default(),
                id: r.id,
                at: r.at,
                actor_kind: r.actor_kind,
                actor_id: r.actor_id,
                actor_label: r.actor_label,
                ip: r.ip,
                action: r.action,
                target: r.target,
            })
            .collect();
        Ok(paginate(entries, limit, |e| format!("{}:{}", e.at, e.id)))
    }
}

//! Members, roles and invites.

use super::backend::Backend;
use super::store::*;
use super::*;
use crate::domain::random_id;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Locks the organization's memberships for this transaction (PostgreSQL: the
    /// organization row; SQLite has one writer) and returns the member's role.
    async fn lock_membership(
        conn: &mut DB::Connection,
        org: &OrgId,
        user: &UserId,
    ) -> Result<Role> {
        if let Some(lock) = DB::LOCK_ORG {
            sqlx::query(lock)
                .bind(org.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org.as_str())
                .bind(user.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        role.and_then(|r| r.parse().ok())
            .ok_or(StorageError::NotFound)
    }

    /// Refuses (Conflict) when the organization has no owner besides the one about to
    /// stop being one. Runs under [`lock_membership`](Self::lock_membership).
    async fn keep_an_owner(conn: &mut DB::Connection, org: &OrgId, advice: &str) -> Result<()> {
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
        )
        .bind(org.as_str())
        .fetch_one(&mut *conn)
        .await?;
        if owners <= 1 {
            return Err(StorageError::Conflict(format!(
                "An organization needs at least one owner; {advice}."
            )));
        }
        Ok(())
    }

    /// Revokes the pending invites `user` created in `org`.
    async fn revoke_invites_by(
        conn: &mut DB::Connection,
        org: &OrgId,
        user: &UserId,
    ) -> Result<()> {
        // Team invites and partner-portal invites alike.
        for table in ["invites", "partner_invites"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE org_id = $1 AND created_by = $2 AND accepted_at IS NULL"
            ))
            .bind(org.as_str())
            .bind(user.as_str())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Who accepts an invite for `email`: the signed-in account if it is that address, or a
    /// new account created now; `Conflict` otherwise (another account is signed in, or the
    /// address has an account that must sign in first).
    pub(super) async fn invited_user(
        conn: &mut DB::Connection,
        email: &str,
        acceptor: InviteAcceptor<'_>,
        now: i64,
    ) -> Result<UserId> {
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match (acceptor, existing) {
            // The invited account itself, signed in.
            (InviteAcceptor::SignedIn(me), Some(id)) if id == me.as_str() => me.clone(),
            (InviteAcceptor::SignedIn(_), _) => {
                return Err(StorageError::Conflict(format!(
                    "This invite is for {email}. Sign out, then sign in with that address (or create it) to join."
                )))
            }
            // An address that already has an account joins only by signing in.
            (InviteAcceptor::NewUser { .. }, Some(_)) => {
                return Err(StorageError::Conflict(SIGN_IN_TO_ACCEPT.into()))
            }
            (InviteAcceptor::NewUser { id, password_hash }, None) => {
                let r = sqlx::query(
                    "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id.as_str())
                .bind(email)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *conn)
                .await;
                r.map_err(|e| conflict_if_unique(e, || SIGN_IN_TO_ACCEPT.into()))?;
                id.clone()
            }
        })
    }
}

#[async_trait]
impl<DB> Team for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn members(&self, org: &OrgId) -> Result<Vec<Member>> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, m.role, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, u.email",
        )
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn member_role(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org.as_str())
                .bind(user.as_str())
                .fetch_optional(&self.read)
                .await?;
        Ok(role.and_then(|r| r.parse().ok()))
    }

    async fn set_member_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let current = Self::lock_membership(&mut tx, org, user).await?;
        if current == Role::Owner && role != Role::Owner {
            Self::keep_an_owner(&mut tx, org, "make someone else owner first").await?;
        }
        sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        if !role.can_write() {
            // A viewer cannot invite: links this member handed out stop working.
            Self::revoke_invites_by(&mut tx, org, user).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let current = Self::lock_membership(&mut tx, org, user).await?;
        if current == Role::Owner {
            Self::keep_an_owner(&mut tx, org, "add another owner first").await?;
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        Self::revoke_invites_by(&mut tx, org, user).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_invite(&self, org: &OrgId, i: &NewInvite<'_>) -> Result<Invite> {
        let NewInvite {
            email,
            role,
            token_hash,
            created_by,
            now,
            expires_at,
        } = *i;
        Ok(sqlx::query_as(
            "INSERT INTO invites (id, org_id, email, role, token_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id, email, role, created_at, expires_at, accepted_at",
        )
        .bind(random_id("inv"))
        .bind(org.as_str())
        .bind(email)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(created_by.as_str())
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.write)
        .await?)
    }

    async fn invites(&self, org: &OrgId) -> Result<Vec<Invite>> {
        Ok(sqlx::query_as(
            "SELECT id, email, role, created_at, expires_at, accepted_at FROM invites \
             WHERE org_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn revoke_invite(&self, org: &OrgId, invite_id: &str) -> Result<()> {
        let n = sqlx::query(
            "DELETE FROM invites WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL",
        )
        .bind(org.as_str())
        .bind(invite_id)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteRow>> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, email, role, expires_at, accepted_at FROM invites WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn accept_invite(
        &self,
        token_hash: &str,
        acceptor: InviteAcceptor<'_>,
        now: i64,
    ) -> Result<AcceptedInvite> {
        let mut tx = self.write.begin().await?;
        let lock = DB::FOR_UPDATE;
        let invite: Option<InviteRow> = sqlx::query_as(&format!(
            "SELECT id, org_id, email, role, expires_at, accepted_at FROM invites \
             WHERE token_hash = $1{lock}"
        ))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let invite = invite
            .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
            .ok_or(StorageError::NotFound)?;
        let user = Self::invited_user(&mut tx, &invite.email, acceptor, now).await?;
        sqlx::query("UPDATE invites SET accepted_at = $2 WHERE id = $1")
            .bind(&invite.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(&invite.org_id)
        .bind(user.as_str())
        .bind(invite.role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AcceptedInvite {
            user,
            org_id: invite.org_id,
        })
    }
}

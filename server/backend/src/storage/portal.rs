//! The partner portal's storage: partner users and their invites, and one partner's part of an
//! organization (its customers, monthly figures and payout statements). Every query is scoped
//! by organization and partner.

use super::backend::Backend;
use super::ledger::like_pattern;
use super::store::*;
use super::*;
use crate::domain::random_id;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> Portal for SqlStore<DB>
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
    async fn partner_users(&self, org: &OrgId, partner_id: &str) -> Result<Vec<PartnerUser>> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, pu.created_at FROM partner_users pu \
             JOIN users u ON u.id = pu.user_id \
             WHERE pu.org_id = $1 AND pu.partner_id = $2 ORDER BY pu.created_at, u.email",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn remove_partner_user(&self, org: &OrgId, partner_id: &str, user: &str) -> Result<()> {
        let n = sqlx::query(
            "DELETE FROM partner_users WHERE org_id = $1 AND partner_id = $2 AND user_id = $3",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(user)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn partner_membership(
        &self,
        org: &OrgId,
        partner_id: &str,
        user: &UserId,
    ) -> Result<Option<PartnerChoice>> {
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT p.id, p.key, p.name FROM partner_users pu JOIN partners p ON p.id = pu.partner_id \
             WHERE pu.org_id = $1 AND pu.partner_id = $2 AND pu.user_id = $3 AND p.org_id = $1",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(user.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, key, name)| PartnerChoice { id, key, name }))
    }

    async fn user_partner_memberships(&self, user: &UserId) -> Result<Vec<OrgChoice>> {
        let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT o.id, o.name, p.id, p.key, p.name FROM partner_users pu \
             JOIN organizations o ON o.id = pu.org_id JOIN partners p ON p.id = pu.partner_id \
             WHERE pu.user_id = $1 ORDER BY pu.created_at, o.id, p.key",
        )
        .bind(user.as_str())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, pid, key, pname)| OrgChoice {
                id,
                name,
                role: Role::Viewer,
                partner: Some(PartnerChoice {
                    id: pid,
                    key,
                    name: pname,
                }),
            })
            .collect())
    }

    async fn create_partner_invite(
        &self,
        org: &OrgId,
        partner_id: &str,
        invite: &NewInvite<'_>,
    ) -> Result<PartnerInvite> {
        let id = random_id("pin");
        sqlx::query(
            "INSERT INTO partner_invites (id, org_id, partner_id, email, token_hash, created_by, \
               created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org.as_str())
        .bind(partner_id)
        .bind(invite.email)
        .bind(invite.token_hash)
        .bind(invite.created_by.as_str())
        .bind(invite.now)
        .bind(invite.expires_at)
        .execute(&self.write)
        .await?;
        Ok(PartnerInvite {
            id,
            email: invite.email.to_string(),
            created_at: invite.now,
            expires_at: invite.expires_at,
        })
    }

    async fn partner_invites(
        &self,
        org: &OrgId,
        partner_id: &str,
        now: i64,
    ) -> Result<Vec<PartnerInvite>> {
        Ok(sqlx::query_as(
            "SELECT id, email, created_at, expires_at FROM partner_invites \
             WHERE org_id = $1 AND partner_id = $2 AND accepted_at IS NULL AND expires_at > $3 \
             ORDER BY created_at",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(now)
        .fetch_all(&self.read)
        .await?)
    }

    async fn revoke_partner_invite(&self, org: &OrgId, partner_id: &str, id: &str) -> Result<()> {
        let n = sqlx::query(
            "DELETE FROM partner_invites WHERE org_id = $1 AND partner_id = $2 AND id = $3 \
             AND accepted_at IS NULL",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(id)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn partner_invite_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<PartnerInviteRow>> {
        Ok(sqlx::query_as(
            "SELECT i.id, i.org_id, i.partner_id, i.email, i.expires_at, i.accepted_at, \
               o.name AS org_name, COALESCE(p.name, p.key) AS partner_name \
             FROM partner_invites i JOIN organizations o ON o.id = i.org_id \
             JOIN partners p ON p.id = i.partner_id WHERE i.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn accept_partner_invite(
        &self,
        token_hash: &str,
        acceptor: InviteAcceptor<'_>,
        now: i64,
    ) -> Result<AcceptedPartnerInvite> {
        let mut tx = self.write.begin().await?;
        let lock = DB::FOR_UPDATE;
        let invite: Option<(String, String, String, String, i64, Option<i64>)> =
            sqlx::query_as(&format!(
                "SELECT id, org_id, partner_id, email, expires_at, accepted_at FROM partner_invites \
                 WHERE token_hash = $1{lock}"
            ))
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let (id, org_id, partner_id, email, _, _) = invite
            .filter(|i| i.5.is_none() && i.4 > now)
            .ok_or(StorageError::NotFound)?;
        let user = Self::invited_user(&mut tx, &email, acceptor, now).await?;
        sqlx::query("UPDATE partner_invites SET accepted_at = $2 WHERE id = $1")
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO partner_users (org_id, partner_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, partner_id, user_id) DO NOTHING",
        )
        .bind(&org_id)
        .bind(&partner_id)
        .bind(user.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AcceptedPartnerInvite {
            user,
            org_id,
            partner_id,
        })
    }

    async fn portal_customers(
        &self,
        org: &OrgId,
        partner_id: &str,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<PortalCustomer>> {
        let term: Option<String> = search
            .map(|s| s.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|s| !s.trim().is_empty());
        let pattern = term.as_deref().map(like_pattern).unwrap_or_default();
        let cursor: String = cursor
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        // By key or name only: searching by e-mail would reveal the addresses the portal masks.
        let rows: Vec<(String, String, Option<String>, Option<String>, Option<i64>)> =
            sqlx::query_as(
                "SELECT c.id, c.key, c.name, c.email, \
                   (SELECT MIN(t.occurred_at) FROM transactions t WHERE t.org_id = c.org_id \
                      AND t.customer_id = c.id AND t.recorded AND t.removed_reason IS NULL) \
                 FROM customers c WHERE c.org_id = $1 AND c.partner_id = $2 \
                   AND ($3 = '' OR lower(c.key) LIKE $3 ESCAPE '\\' \
                        OR lower(COALESCE(c.name, '')) LIKE $3 ESCAPE '\\') \
                   AND c.key > $4 ORDER BY c.key LIMIT $5",
            )
            .bind(org.as_str())
            .bind(partner_id)
            .bind(&pattern)
            .bind(&cursor)
            .bind(limit + 1)
            .fetch_all(&self.read)
            .await?;
        let page = paginate(rows, limit, |r| r.1.clone());
        let ids: Vec<&str> = page.items.iter().map(|r| r.0.as_str()).collect();
        let sums = |table_sql: &'static str| {
            let ids = ids.clone();
            async move {
                if ids.is_empty() {
                    return Ok::<_, StorageError>(vec![]);
                }
                let sql = table_sql.replace("{list}", &placeholders(3, ids.len()));
                let mut q = sqlx::query_as::<_, (String, String, i64)>(&sql)
                    .bind(org.as_str())
                    .bind(partner_id);
                for id in &ids {
                    q = q.bind(*id);
                }
                Ok(q.fetch_all(&self.read).await?)
            }
        };
        let revenue = sums(
            "SELECT t.customer_id, t.currency, CAST(SUM(t.amount - t.amount_refunded) AS BIGINT) \
             FROM transactions t JOIN customers c ON c.id = t.customer_id \
             WHERE t.org_id = $1 AND c.partner_id = $2 AND t.customer_id IN ({list}) \
               AND t.recorded AND t.removed_reason IS NULL \
             GROUP BY t.customer_id, t.currency ORDER BY t.currency",
        )
        .await?;
        let earnings = sums(
            "SELECT customer_id, currency, CAST(SUM(amount) AS BIGINT) FROM commission_entries \
             WHERE org_id = $1 AND partner_id = $2 AND customer_id IN ({list}) \
             GROUP BY customer_id, currency ORDER BY currency",
        )
        .await?;
        let totals = |sums: &[(String, String, i64)], id: &str| -> Vec<CurrencyTotal> {
            sums.iter()
                .filter(|(c, _, _)| c == id)
                .map(|(_, currency, amount)| CurrencyTotal {
                    currency: currency.clone(),
                    amount: i128::from(*amount),
                })
                .collect()
        };
        Ok(Page {
            next_cursor: page.next_cursor,
            items: page
                .items
                .iter()
                .map(|(id, key, name, email, first)| PortalCustomer {
                    key: key.clone(),
                    name: name.clone(),
                    email: email.as_deref().map(mask_email),
                    first_payment_at: *first,
                    revenue: totals(&revenue, id),
                    earnings: totals(&earnings, id),
                })
                .collect(),
        })
    }

    async fn portal_customer_exists(
        &self,
        org: &OrgId,
        partner_id: &str,
        key: &str,
    ) -> Result<bool> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM customers WHERE org_id = $1 AND partner_id = $2 AND key = $3",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(key)
        .fetch_optional(&self.read)
        .await?;
        Ok(n.is_some())
    }

    async fn portal_daily(
        &self,
        org: &OrgId,
        partner_id: &str,
        since: i64,
    ) -> Result<Vec<(i64, String, i64, i64)>> {
        // Per day (days since 1970) and currency: the pages fold days into months.
        let revenue: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT CAST(t.occurred_at / 86400000 AS BIGINT), t.currency, \
               CAST(SUM(t.amount - t.amount_refunded) AS BIGINT) \
             FROM transactions t JOIN customers c ON c.id = t.customer_id \
             WHERE t.org_id = $1 AND c.org_id = $1 AND c.partner_id = $2 AND t.occurred_at >= $3 \
               AND t.recorded AND t.removed_reason IS NULL \
             GROUP BY CAST(t.occurred_at / 86400000 AS BIGINT), t.currency",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        let earnings: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT CAST(occurred_at / 86400000 AS BIGINT), currency, CAST(SUM(amount) AS BIGINT) \
             FROM commission_entries WHERE org_id = $1 AND partner_id = $2 AND occurred_at >= $3 \
             GROUP BY CAST(occurred_at / 86400000 AS BIGINT), currency",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        let mut out: Vec<(i64, String, i64, i64)> =
            revenue.into_iter().map(|(d, c, r)| (d, c, r, 0)).collect();
        for (d, c, e) in earnings {
            match out.iter_mut().find(|(d2, c2, _, _)| *d2 == d && *c2 == c) {
                Some(row) => row.3 = e,
                None => out.push((d, c, 0, e)),
            }
        }
        out.sort();
        Ok(out)
    }

    async fn portal_next_payable(
        &self,
        org: &OrgId,
        partner_id: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(payable_at) FROM commission_entries \
             WHERE org_id = $1 AND partner_id = $2 AND payable_at > $3",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .bind(now)
        .fetch_one(&self.read)
        .await?)
    }

    async fn portal_statements(
        &self,
        org: &OrgId,
        partner_id: &str,
    ) -> Result<Vec<PortalStatement>> {
        // Cancelled runs never paid anything: the partner does not see them.
        Ok(sqlx::query_as(
            "SELECT y.id AS run_id, y.number AS run_number, y.status, y.reference, y.created_at, \
               y.closed_at AS paid_at, s.currency, s.amount, s.entries \
             FROM payout_statements s JOIN payouts y ON y.id = s.payout_id \
             WHERE s.org_id = $1 AND s.partner_id = $2 AND y.org_id = $1 \
               AND y.status IN ('draft', 'paid') \
             ORDER BY y.number DESC, s.currency",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .fetch_all(&self.read)
        .await?)
    }
}

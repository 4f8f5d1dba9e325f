//! The partner portal: admins invite and remove partner users; a partner user sees exactly
//! their partner's customers, earnings and payouts. Every function of the portal side takes a
//! [`PartnerCtx`], which carries the organization and partner the session may see; nothing
//! else reaches a query.

use super::team::INVITE_VALID_MS;
use super::{Result, DAY_MS};
use crate::audit::{self, set, Actor};
use crate::auth;
use crate::domain::{identifier_problem, Email, OrgId, Validator};
use crate::session::PartnerCtx;
use crate::storage::NewInvite;
use crate::AppState;
use shared::error::AppError;
use shared::model::{
    civil_from_days, days_from_civil, CommissionEntry, CurrencyTotal, Page, Partner,
    PartnerBalance, PartnerInvite, PartnerUser, PortalCustomer, PortalMonth, PortalStatement, Role,
};

/// How many months the portal's chart shows (this one included).
pub const MONTHS: i64 = 12;

/// The partner behind `key`, or `NotFound`.
async fn partner(state: &AppState, org: &OrgId, key: &str) -> Result<Partner> {
    if identifier_problem(key).is_some() {
        return Err(AppError::NotFound);
    }
    state
        .store
        .partner(org, key)
        .await?
        .ok_or(AppError::NotFound)
}

/// Invites `email` to see partner `key` in the portal; returns the one-time link
/// (`<public URL>/invite/<token>`), valid for 7 days. Only the token's hash is stored.
pub async fn invite(
    state: &AppState,
    org: &OrgId,
    key: &str,
    email: &str,
    who: &Actor,
) -> Result<String> {
    let p = partner(state, org, key).await?;
    let mut v = Validator::default();
    let email = v.check(Email::parse("email", email));
    v.finish()?;
    let email = email.unwrap();
    let token = auth::random_token(24);
    let now = state.now();
    let token_hash = auth::sha256_hex(&token);
    let created_by = crate::domain::UserId::from_trusted(who.id.clone().unwrap_or_default());
    let invite = NewInvite {
        email: email.as_str(),
        role: Role::Viewer,
        token_hash: &token_hash,
        created_by: &created_by,
        now,
        expires_at: now + INVITE_VALID_MS,
    };
    let row = state
        .store
        .create_partner_invite(org, &p.id, &invite)
        .await?;
    audit::record(
        state,
        org,
        who,
        "partner_user.invited",
        Some(&row.id),
        vec![set("partner", &p.key), set("email", email.as_str())],
    )
    .await?;
    Ok(format!("{}/invite/{token}", state.settings.public_url))
}

/// A partner's users and pending invites.
pub async fn users(
    state: &AppState,
    org: &OrgId,
    key: &str,
) -> Result<(Vec<PartnerUser>, Vec<PartnerInvite>)> {
    let p = partner(state, org, key).await?;
    Ok((
        state.store.partner_users(org, &p.id).await?,
        state.store.partner_invites(org, &p.id, state.now()).await?,
    ))
}

/// Removes a partner user: their portal sessions end at their next request.
pub async fn remove_user(
    state: &AppState,
    org: &OrgId,
    key: &str,
    user_id: &str,
    who: &Actor,
) -> Result<()> {
    let p = partner(state, org, key).await?;
    let email = state
        .store
        .partner_users(org, &p.id)
        .await?
        .into_iter()
        .find(|u| u.user_id == user_id)
        .map(|u| u.email)
        .ok_or(AppError::NotFound)?;
    state.store.remove_partner_user(org, &p.id, user_id).await?;
    // A second link sent to the same address must not let them straight back in.
    for i in state.store.partner_invites(org, &p.id, state.now()).await? {
        if i.email.eq_ignore_ascii_case(&email) {
            state.store.revoke_partner_invite(org, &p.id, &i.id).await?;
        }
    }
    audit::record(
        state,
        org,
        who,
        "partner_user.removed",
        Some(user_id),
        vec![set("partner", &p.key), set("email", email)],
    )
    .await?;
    Ok(())
}

/// Revokes a pending partner invite.
pub async fn revoke_invite(
    state: &AppState,
    org: &OrgId,
    key: &str,
    id: &str,
    who: &Actor,
) -> Result<()> {
    let p = partner(state, org, key).await?;
    state.store.revoke_partner_invite(org, &p.id, id).await?;
    audit::record(
        state,
        org,
        who,
        "partner_user.invite_revoked",
        Some(id),
        vec![set("partner", &p.key)],
    )
    .await?;
    Ok(())
}

// ----- The portal side: everything is the session's partner's -----

/// What the portal's home page shows.
#[derive(Debug, Clone)]
pub struct Home {
    pub partner: Partner,
    pub balance: PartnerBalance,
    /// Approved (payable) and positive, per currency: what the next payout run would pay.
    pub next_payout: Vec<CurrencyTotal>,
    /// When the earliest pending commission becomes payable.
    pub next_payable_at: Option<i64>,
    /// The last [`MONTHS`] months, oldest first, per currency.
    pub months: Vec<PortalMonth>,
}

pub async fn home(state: &AppState, p: &PartnerCtx) -> Result<Home> {
    let partner = partner(state, &p.org, &p.partner_key).await?;
    let balance = super::commissions::balance(state, &p.org, &p.partner_key).await?;
    let next_payout = balance
        .lines
        .iter()
        .filter(|b| b.approved > 0)
        .map(|b| CurrencyTotal {
            currency: b.currency.clone(),
            amount: b.approved,
        })
        .collect();
    let now = state.now();
    let next_payable_at = state
        .store
        .portal_next_payable(&p.org, &p.partner_id, now)
        .await?;
    // Months counted from year 0 (`12 * year + month - 1`): the window's first is 11 back.
    let (y, m, _) = civil_from_days(now.div_euclid(DAY_MS));
    let first = 12 * y + i64::from(m) - 1 - (MONTHS - 1);
    let month_of = |i: i64| (i.div_euclid(12), i.rem_euclid(12) as u32 + 1);
    let (sy, sm) = month_of(first);
    let since = days_from_civil(sy, sm) * DAY_MS;
    let daily = state
        .store
        .portal_daily(&p.org, &p.partner_id, since)
        .await?;
    let mut months: Vec<PortalMonth> = vec![];
    for (day, currency, revenue, earnings) in daily {
        let (y, m, _) = civil_from_days(day);
        let month = format!("{y:04}-{m:02}");
        match months
            .iter_mut()
            .find(|x| x.month == month && x.currency == currency)
        {
            Some(x) => {
                x.revenue += i128::from(revenue);
                x.earnings += i128::from(earnings);
            }
            None => months.push(PortalMonth {
                month,
                currency,
                revenue: i128::from(revenue),
                earnings: i128::from(earnings),
            }),
        }
    }
    // Every month of the window for every currency seen, so the chart has no gaps.
    let mut currencies: Vec<String> = months.iter().map(|m| m.currency.clone()).collect();
    currencies.sort();
    currencies.dedup();
    for i in first..first + MONTHS {
        let (cy, cm) = month_of(i);
        let month = format!("{cy:04}-{cm:02}");
        for c in &currencies {
            if !months.iter().any(|x| x.month == month && &x.currency == c) {
                months.push(PortalMonth {
                    month: month.clone(),
                    currency: c.clone(),
                    revenue: 0,
                    earnings: 0,
                });
            }
        }
    }
    months.sort_by(|a, b| (&a.currency, &a.month).cmp(&(&b.currency, &b.month)));
    Ok(Home {
        partner,
        balance,
        next_payout,
        next_payable_at,
        months,
    })
}

/// The partner's customers, 25 a page, searched by key or name.
pub async fn customers(
    state: &AppState,
    p: &PartnerCtx,
    search: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<PortalCustomer>> {
    let search = search.filter(|s| s.chars().count() <= 100);
    Ok(state
        .store
        .portal_customers(&p.org, &p.partner_id, search, cursor, 25)
        .await?)
}

/// The partner's commission entries, newest first, by status and customer. Another
/// partner's customer is `NotFound`, like one that does not exist.
pub async fn entries(
    state: &AppState,
    p: &PartnerCtx,
    status: Option<&str>,
    customer: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<CommissionEntry>> {
    if let Some(c) = customer {
        if identifier_problem(c).is_some()
            || !state
                .store
                .portal_customer_exists(&p.org, &p.partner_id, c)
                .await?
        {
            return Err(AppError::NotFound);
        }
    }
    super::commissions::entries(
        state,
        &p.org,
        Some(&p.partner_key),
        customer,
        status,
        cursor,
        50,
    )
    .await
}

/// The partner's statements (runs being prepared, and paid ones).
pub async fn statements(state: &AppState, p: &PartnerCtx) -> Result<Vec<PortalStatement>> {
    Ok(state.store.portal_statements(&p.org, &p.partner_id).await?)
}

/// One statement as CSV: another partner's run is `NotFound`.
pub async fn statement_csv(state: &AppState, p: &PartnerCtx, run_id: &str) -> Result<String> {
    if identifier_problem(run_id).is_some() {
        return Err(AppError::NotFound);
    }
    super::commissions::partner_payout_csv(state, &p.org, run_id, &p.partner_key).await
}

/// The partner's own profile: its name and payout e-mail, changed by a partner user (audited
/// with them as the actor). A field left empty stays as it is.
pub async fn update_profile(
    state: &AppState,
    p: &PartnerCtx,
    name: Option<&str>,
    email: Option<&str>,
    who: &Actor,
) -> Result<Partner> {
    let current = partner(state, &p.org, &p.partner_key).await?;
    let name = name.or(current.name.as_deref());
    let email = email.or(current.email.as_deref());
    crate::service::save_partner(state, &p.org, &p.partner_key, name, email, false, who).await
}

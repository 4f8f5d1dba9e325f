//! Who is signed in: session keys, the checks every page and server function runs, sign-in
//! rate limiting. Sessions are stored by tower-sessions in the application database.

use super::auth::random_token;
use super::domain::{Email, OrgId, UserId};
use super::storage::UserRow;
use super::AppState;
use shared::error::AppError;
use shared::model::{Me, OrgChoice, Role};
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

const USER: &str = "uid";
const ORG: &str = "org";
/// Set when the session is in a partner-user membership: the partner's id (in `ORG`).
const PARTNER: &str = "partner";
const EPOCH: &str = "epoch";
const LOGIN_AT: &str = "login_at";
const LAST_SEEN: &str = "last_seen";

/// How stale the recorded last request may get before it is written again. Writing it on
/// every request would turn every page view into a session write.
const LAST_SEEN_GRANULARITY_MS: i64 = 60_000;

/// The signed-in user acting in one organization.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub user: UserId,
    pub email: String,
    pub org: OrgId,
    pub role: Role,
}

impl Ctx {
    /// Refuses viewers (and anyone below `min`) with a message that says why.
    pub fn require(&self, min: Role) -> Result<(), AppError> {
        if self.role >= min {
            return Ok(());
        }
        Err(AppError::Forbidden(match min {
            Role::Owner => "Only an owner of this organization can do that.".into(),
            _ => "Your role (viewer) can look but not change anything. Ask an admin.".into(),
        }))
    }
}

async fn get<T: serde::de::DeserializeOwned>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, AppError> {
    session.get::<T>(key).await.map_err(|e| {
        tracing::warn!(error = %e, "session store error");
        AppError::Unavailable
    })
}

async fn end(session: &Session) {
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not delete a session");
    }
}

/// The signed-in user, whatever organization (if any) the session is in, or `Unauthorized`.
/// Ends sessions that are too old, idle too long, or whose user changed their password since
/// (the epoch moved). Only accepting an invite needs no organization.
pub async fn signed_in(session: &Session, state: &AppState) -> Result<UserRow, AppError> {
    let (Some(user), Some(epoch), Some(login_at)) = (
        get::<String>(session, USER).await?,
        get::<i64>(session, EPOCH).await?,
        get::<i64>(session, LOGIN_AT).await?,
    ) else {
        return Err(AppError::Unauthorized);
    };
    let now = state.now();
    if now - login_at > state.settings.session_absolute_ms {
        end(session).await;
        return Err(AppError::Unauthorized);
    }
    // Idle expiry counts from the last request (not from the last time the session was
    // written): the time of the last request is kept in the session, to the minute.
    let last_seen = get::<i64>(session, LAST_SEEN).await?.unwrap_or(login_at);
    if now - last_seen > state.settings.session_idle_secs.saturating_mul(1000) {
        end(session).await;
        return Err(AppError::Unauthorized);
    }
    if now - last_seen >= LAST_SEEN_GRANULARITY_MS {
        session
            .insert(LAST_SEEN, now)
            .await
            .map_err(|_| AppError::Unavailable)?;
    }
    let user = UserId::from_trusted(user);
    let Some(row) = state.store.user_by_id(&user).await? else {
        end(session).await;
        return Err(AppError::Unauthorized);
    };
    if row.session_epoch != epoch {
        end(session).await;
        return Err(AppError::Unauthorized);
    }
    Ok(row)
}

/// The refusal of a team page or server function to a session in the partner portal.
pub const PORTAL_ONLY: &str = "Partner users see the partner portal only.";

/// The signed-in partner user acting for one partner of one organization.
#[derive(Debug, Clone)]
pub struct PartnerCtx {
    pub user: UserId,
    pub email: String,
    pub org: OrgId,
    pub partner_id: String,
    pub partner_key: String,
}

/// Whether the session is in a partner-user membership (whoever is signed in).
pub async fn in_portal(session: &Session) -> Result<bool, AppError> {
    Ok(get::<String>(session, PARTNER).await?.is_some())
}

/// The current partner user and partner, or `Unauthorized` (see [`signed_in`]); `Forbidden`
/// for a session in a team membership. A partner user who was removed is signed out at once.
pub async fn current_partner(session: &Session, state: &AppState) -> Result<PartnerCtx, AppError> {
    let row = signed_in(session, state).await?;
    let (Some(org), partner) = (
        get::<String>(session, ORG).await?,
        get::<String>(session, PARTNER).await?,
    ) else {
        return Err(AppError::Unauthorized);
    };
    let Some(partner) = partner else {
        return Err(AppError::Forbidden(
            "The partner portal is for partner users; your account is a team member here.".into(),
        ));
    };
    let user = UserId::from_trusted(row.id.clone());
    let org = OrgId::from_trusted(org);
    match state
        .store
        .partner_membership(&org, &partner, &user)
        .await?
    {
        Some(p) => Ok(PartnerCtx {
            user,
            email: row.email,
            org,
            partner_id: p.id,
            partner_key: p.key,
        }),
        None => {
            end(session).await;
            Err(AppError::Unauthorized)
        }
    }
}

/// Every membership of `user`: team memberships first, then partner-user ones.
pub async fn memberships(state: &AppState, user: &UserId) -> Result<Vec<OrgChoice>, AppError> {
    let mut all = state.store.user_orgs(user).await?;
    all.extend(state.store.user_partner_memberships(user).await?);
    Ok(all)
}

/// The current user and organization, or `Unauthorized` (see [`signed_in`]); `Forbidden`
/// ([`PORTAL_ONLY`]) for a session in the partner portal.
pub async fn current(session: &Session, state: &AppState) -> Result<Ctx, AppError> {
    let row = signed_in(session, state).await?;
    let Some(org) = get::<String>(session, ORG).await? else {
        return Err(AppError::Unauthorized);
    };
    if get::<String>(session, PARTNER).await?.is_some() {
        return Err(AppError::Forbidden(PORTAL_ONLY.into()));
    }
    let user = UserId::from_trusted(row.id.clone());
    let org = OrgId::from_trusted(org);
    let role = match state.store.member_role(&org, &user).await? {
        Some(r) => r,
        None => {
            // Removed from this organization: fall back to another one, if any.
            let orgs = state.store.user_orgs(&user).await?;
            let Some(first) = orgs.first() else {
                end(session).await;
                return Err(AppError::Unauthorized);
            };
            session
                .insert(ORG, &first.id)
                .await
                .map_err(|_| AppError::Unavailable)?;
            return Ok(Ctx {
                user,
                email: row.email,
                org: OrgId::from_trusted(first.id.clone()),
                role: first.role,
            });
        }
    };
    Ok(Ctx {
        user,
        email: row.email,
        org,
        role,
    })
}

pub async fn me(session: &Session, state: &AppState) -> Result<Me, AppError> {
    let ctx = current(session, state).await?;
    let orgs = memberships(state, &ctx.user).await?;
    let org_name = orgs
        .iter()
        .find(|o| o.id == ctx.org.as_str() && o.partner.is_none())
        .map(|o| o.name.clone())
        .unwrap_or_default();
    Ok(Me {
        user_id: ctx.user.to_string(),
        email: ctx.email,
        org_id: ctx.org.to_string(),
        org_name,
        role: ctx.role,
        orgs,
    })
}

/// Starts a session for `user` in `org` with a fresh session id (no fixation).
pub async fn start(
    session: &Session,
    state: &AppState,
    user: &UserRow,
    org: &str,
) -> Result<(), AppError> {
    let fail = |e: tower_sessions::session::Error| {
        tracing::warn!(error = %e, "session store error");
        AppError::Unavailable
    };
    session.cycle_id().await.map_err(fail)?;
    session.insert(USER, &user.id).await.map_err(fail)?;
    session.insert(ORG, org).await.map_err(fail)?;
    session.remove_value(PARTNER).await.map_err(fail)?;
    session
        .insert(EPOCH, user.session_epoch)
        .await
        .map_err(fail)?;
    let now = state.now();
    session.insert(LOGIN_AT, now).await.map_err(fail)?;
    session.insert(LAST_SEEN, now).await.map_err(fail)?;
    Ok(())
}

/// Moves the session to another membership of the signed-in user: `org` (a team membership)
/// or `org/partner` (a partner-user one, see [`OrgChoice::value`]). Returns where to go: `/`
/// or `/partner`. Another account's membership is `NotFound`.
pub async fn switch_org(
    session: &Session,
    state: &AppState,
    choice: &str,
) -> Result<&'static str, AppError> {
    let row = signed_in(session, state).await?;
    let user = UserId::from_trusted(row.id);
    match choice.split_once('/') {
        Some((org, partner)) => {
            let org_id = OrgId::from_trusted(org);
            if state
                .store
                .partner_membership(&org_id, partner, &user)
                .await?
                .is_none()
            {
                return Err(AppError::NotFound);
            }
            enter_partner(session, org, partner).await?;
            Ok("/partner")
        }
        None => {
            let org_id = OrgId::from_trusted(choice);
            if state.store.member_role(&org_id, &user).await?.is_none() {
                return Err(AppError::NotFound);
            }
            enter(session, choice).await?;
            Ok("/")
        }
    }
}

/// Puts the signed-in session into `org`, which the caller has just checked (or made) the
/// user a member of.
pub async fn enter(session: &Session, org: &str) -> Result<(), AppError> {
    let fail = |_| AppError::Unavailable;
    session.insert(ORG, org).await.map_err(fail)?;
    session.remove_value(PARTNER).await.map_err(fail)?;
    Ok(())
}

/// Puts the signed-in session into the partner portal of `partner` in `org`, which the caller
/// has just checked (or made) the user a partner user of.
pub async fn enter_partner(session: &Session, org: &str, partner: &str) -> Result<(), AppError> {
    let fail = |_| AppError::Unavailable;
    session.insert(ORG, org).await.map_err(fail)?;
    session.insert(PARTNER, partner).await.map_err(fail)?;
    Ok(())
}

/// After a password change: this session stays valid (new epoch), all others end.
pub async fn set_epoch(session: &Session, epoch: i64) -> Result<(), AppError> {
    session
        .insert(EPOCH, epoch)
        .await
        .map_err(|_| AppError::Unavailable)?;
    session.cycle_id().await.map_err(|_| AppError::Unavailable)
}

pub async fn logout(session: &Session) {
    end(session).await;
}

/// The client's address. With no trusted proxies, the socket peer. Behind `trusted` proxies
/// of ours, each appends the address it received from to `X-Forwarded-For`, so the client is
/// the hop `trusted` places from the right: the right-most one that none of our proxies
/// wrote. Hops further left were written by the client and prove nothing.
pub fn client_ip(peer: Option<SocketAddr>, forwarded_for: Option<&str>, trusted: usize) -> String {
    if trusted > 0 {
        let hops: Vec<&str> = forwarded_for
            .map(|h| h.split(',').map(str::trim).collect())
            .unwrap_or_default();
        // Fewer hops than proxies: the request skipped one of them; use the left-most.
        let pick = hops
            .len()
            .checked_sub(trusted)
            .map_or(hops.first(), |i| hops.get(i));
        if let Some(ip) = pick.and_then(|s| s.parse::<IpAddr>().ok()) {
            return ip.to_string();
        }
    }
    peer.map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Which limit an attempt counts against.
pub struct Limit {
    pub scope: String,
    pub max: i64,
}

/// A reserved attempt: it counts against its limits unless [`Attempt::clear`]ed (success)
/// or [`Attempt::release`]d (the check could not run).
pub struct Attempt {
    id: String,
    scopes: Vec<String>,
}

impl Attempt {
    /// Reserves an attempt against every limit at once, before any password is checked, so a
    /// burst of N concurrent attempts has at most the limit checked. Refused with the time
    /// left until the oldest attempt leaves the window.
    pub async fn reserve(
        state: &AppState,
        limits: Vec<Limit>,
        what: &str,
    ) -> Result<Attempt, AppError> {
        let s = &state.settings;
        let now = state.now();
        let id = random_token(12);
        let pairs: Vec<(String, i64)> = limits.iter().map(|l| (l.scope.clone(), l.max)).collect();
        if let Some((_, oldest)) = state
            .store
            .reserve_attempt(&pairs, now - s.login_window_ms, now, &id)
            .await?
        {
            let until = oldest.unwrap_or(now) + s.login_window_ms;
            let minutes = (((until - now).max(0) + 59_999) / 60_000).max(1);
            return Err(AppError::TooManyAttempts(format!(
                "Too many {what}. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
        Ok(Attempt {
            id,
            scopes: limits.into_iter().map(|l| l.scope).collect(),
        })
    }

    /// The attempt succeeded: it does not count, and the account's earlier failures are
    /// forgotten (the address's stay).
    pub async fn clear(self, state: &AppState) -> Result<(), AppError> {
        state.store.release_attempt(&self.id).await?;
        if let Some(account) = self.scopes.iter().find(|s| s.starts_with("acct:")) {
            state.store.clear_login_failures(account).await?;
        }
        Ok(())
    }

    /// The attempt was not made (the server was too busy to check): it does not count.
    pub async fn release(self, state: &AppState) {
        if let Err(e) = state.store.release_attempt(&self.id).await {
            tracing::warn!(error = %e, "could not release a reserved sign-in attempt");
        }
    }
}

/// The limits of a password check for `email` from `client_ip`.
pub fn password_limits(state: &AppState, email: &str, client_ip: &str) -> Vec<Limit> {
    let s = &state.settings;
    let email_norm = Email::parse("email", email)
        .map(|e| e.as_str().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    vec![
        Limit {
            scope: format!("acct:{email_norm}"),
            max: s.login_limit_per_account,
        },
        Limit {
            scope: format!("ip:{client_ip}"),
            max: s.login_limit_per_ip,
        },
    ]
}

/// Checks a password within the sign-in limits: reserved first, then verified (bounded).
/// `Ok(false)` is a wrong password, which stays counted.
pub async fn checked_password(
    state: &AppState,
    limits: Vec<Limit>,
    hash: Option<String>,
    password: &str,
) -> Result<bool, AppError> {
    let attempt = Attempt::reserve(state, limits, "sign-in attempts").await?;
    match state.passwords.verify(hash, password.to_string()).await {
        Ok(true) => {
            attempt.clear(state).await?;
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            attempt.release(state).await;
            Err(e.into())
        }
    }
}

/// Checks the password, with rate limiting per account and per client address. Unknown
/// email and wrong password take the same time and get the same answer.
pub async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Result<UserRow, AppError> {
    let limits = password_limits(state, email, client_ip);
    let email_norm = limits[0].scope.trim_start_matches("acct:").to_string();
    let user = state.store.user_by_email(&email_norm).await?;
    let ok = checked_password(
        state,
        limits,
        user.as_ref().map(|u| u.password_hash.clone()),
        password,
    )
    .await?;
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(AppError::InvalidCredentials),
    }
}

/// Where to send a visitor after signing in: `next` when it is a path on this site, else `/`.
/// Refuses `//host` and `/\host` (other sites to browsers), schemes, and control characters.
pub fn local_path(next: Option<&str>) -> String {
    match next.map(str::trim) {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_right_most_hop_our_proxies_did_not_write() {
        let peer: Option<SocketAddr> = "10.0.0.9:5000".parse().ok();
        // No trusted proxy: the header is the client's own word and is ignored.
        assert_eq!(client_ip(peer, Some("1.2.3.4"), 0), "10.0.0.9");
        // One proxy: it appended the address it saw; what the client sent is to the left.
        assert_eq!(client_ip(peer, Some("6.6.6.6, 1.2.3.4"), 1), "1.2.3.4");
        assert_eq!(
            client_ip(peer, Some("6.6.6.6, 1.2.3.4, 10.0.0.2"), 2),
            "1.2.3.4"
        );
        // Fewer hops than proxies: the left-most; no header or garbage: the peer.
        assert_eq!(client_ip(peer, Some("1.2.3.4"), 2), "1.2.3.4");
        assert_eq!(client_ip(peer, None, 1), "10.0.0.9");
        assert_eq!(client_ip(peer, Some("not-an-ip"), 1), "10.0.0.9");
    }

    #[test]
    fn next_paths_must_stay_on_this_site() {
        assert_eq!(local_path(Some("/invite/abc")), "/invite/abc");
        assert_eq!(
            local_path(Some("/customers?search=a")),
            "/customers?search=a"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}

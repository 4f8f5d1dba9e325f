//! Who is signed in: session keys, the checks every page and server function runs, sign-in
//! rate limiting. Sessions are stored by tower-sessions in the application database.

use super::auth::verify_password;
use super::domain::{Email, OrgId, UserId};
use super::storage::UserRow;
use super::{now_ms, AppState};
use crate::error::AppError;
use crate::model::{Me, Role};
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

const USER: &str = "uid";
const ORG: &str = "org";
const EPOCH: &str = "epoch";
const LOGIN_AT: &str = "login_at";

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

/// The current user and organization, or `Unauthorized`. Ends sessions that are too old or
/// whose user changed their password since (the epoch moved).
pub async fn current(session: &Session, state: &AppState) -> Result<Ctx, AppError> {
    let (Some(user), Some(org), Some(epoch), Some(login_at)) = (
        get::<String>(session, USER).await?,
        get::<String>(session, ORG).await?,
        get::<i64>(session, EPOCH).await?,
        get::<i64>(session, LOGIN_AT).await?,
    ) else {
        return Err(AppError::Unauthorized);
    };
    if now_ms() - login_at > state.settings.session_absolute_ms {
        end(session).await;
        return Err(AppError::Unauthorized);
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
    let orgs = state.store.user_orgs(&ctx.user).await?;
    let org_name = orgs
        .iter()
        .find(|o| o.id == ctx.org.as_str())
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
pub async fn start(session: &Session, user: &UserRow, org: &str) -> Result<(), AppError> {
    let fail = |e: tower_sessions::session::Error| {
        tracing::warn!(error = %e, "session store error");
        AppError::Unavailable
    };
    session.cycle_id().await.map_err(fail)?;
    session.insert(USER, &user.id).await.map_err(fail)?;
    session.insert(ORG, org).await.map_err(fail)?;
    session
        .insert(EPOCH, user.session_epoch)
        .await
        .map_err(fail)?;
    session.insert(LOGIN_AT, now_ms()).await.map_err(fail)?;
    Ok(())
}

pub async fn switch_org(session: &Session, state: &AppState, org: &str) -> Result<(), AppError> {
    let ctx = current(session, state).await?;
    let org_id = OrgId::from_trusted(org);
    if state.store.member_role(&org_id, &ctx.user).await?.is_none() {
        return Err(AppError::NotFound);
    }
    session
        .insert(ORG, org)
        .await
        .map_err(|_| AppError::Unavailable)
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

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when trusted.
pub fn client_ip(
    peer: Option<SocketAddr>,
    forwarded_for: Option<&str>,
    trust_forwarded: bool,
) -> String {
    if trust_forwarded {
        if let Some(ip) = forwarded_for
            .and_then(|h| h.split(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
        {
            return ip.to_string();
        }
    }
    peer.map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Checks the password, with rate limiting per account and per client address. Unknown
/// email and wrong password take the same time and get the same answer.
pub async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Result<UserRow, AppError> {
    let s = &state.settings;
    let email_norm = Email::parse("email", email)
        .map(|e| e.as_str().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    let scopes = vec![format!("acct:{email_norm}"), format!("ip:{client_ip}")];
    let now = now_ms();
    let counts = state
        .store
        .login_failures(&scopes, now - s.login_window_ms)
        .await?;
    let limits = [s.login_limit_per_account, s.login_limit_per_ip];
    for ((count, oldest), limit) in counts.iter().zip(limits) {
        if *count >= limit {
            let until = oldest.unwrap_or(now) + s.login_window_ms;
            let minutes = ((until - now).max(0) + 59_999) / 60_000;
            let minutes = minutes.max(1);
            return Err(AppError::TooManyAttempts(format!(
                "Too many sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    }
    let user = state.store.user_by_email(&email_norm).await?;
    let ok = verify_password(
        user.as_ref().map(|u| u.password_hash.clone()),
        password.to_string(),
    )
    .await?;
    match user {
        Some(u) if ok => {
            state.store.clear_login_failures(&scopes[0]).await?;
            Ok(u)
        }
        _ => {
            state.store.record_login_failure(&scopes, now).await?;
            Err(AppError::InvalidCredentials)
        }
    }
}

//! Accounts: sign-up, sign-in, changing the password, deleting an organization. Starting or
//! updating the session itself is left to the caller, which holds it.

use super::Result;
use crate::domain::{OrgId, Password, UserId};
use crate::session::{self, Attempt, Ctx, Limit};
use crate::storage::UserRow;
use crate::AppState;
use shared::error::AppError;
use shared::model::Role;

/// Sign-up from `client_ip`: every sign-up from an address counts against
/// `signup_limit_per_ip`, whatever its outcome (the attempt is reserved first and never
/// cleared). Then the organization and its owner are created (see [`super::create_org`]).
/// Returns the new owner and organization, to start the session with.
pub async fn sign_up(
    state: &AppState,
    client_ip: &str,
    organization: &str,
    email: &str,
    password: &str,
) -> Result<(UserRow, OrgId)> {
    let limit = Limit {
        scope: format!("signup:{client_ip}"),
        max: state.settings.signup_limit_per_ip,
    };
    Attempt::reserve(state, vec![limit], "sign-ups from your network").await?;
    let org = super::create_org(state, organization, email, password).await?;
    let user = state
        .store
        .user_by_id(&org.user_id)
        .await?
        .ok_or(AppError::Internal)?;
    Ok((user, org.org_id))
}

/// Who signs in, in which organization, and where to go afterwards.
pub struct SignIn {
    pub user: UserRow,
    /// The organization to start in; empty for an account in none (invite page only).
    pub org: String,
    /// The partner, when the account is only a partner user: the session starts in the portal.
    pub partner: Option<String>,
    /// `next` as a local path (see [`session::local_path`]).
    pub next: String,
}

/// Sign-in: the password is checked within the sign-in limits (see
/// [`session::check_credentials`]); the session starts in the user's oldest organization. An
/// account in no organization may still sign in when `next` is an invite page (`/invite/…`),
/// to accept it: the session then works on the invite page only. Otherwise it is refused
/// (`Forbidden`: not a member of any organization any more).
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client_ip: &str,
    next: Option<&str>,
) -> Result<SignIn> {
    let user = session::check_credentials(state, email, password, client_ip).await?;
    let user_id = UserId::from_trusted(user.id.clone());
    let orgs = session::memberships(state, &user_id).await?;
    let mut next = session::local_path(next);
    // A team membership first; an account that is only a partner user lands in the portal.
    let first = orgs
        .iter()
        .find(|o| o.partner.is_none())
        .or_else(|| orgs.first());
    let partner = first.and_then(|o| o.partner.as_ref()).map(|p| p.id.clone());
    if partner.is_some() && !next.starts_with("/partner") && !next.starts_with("/invite/") {
        next = "/partner".into();
    }
    let org = match first {
        Some(first) => first.id.clone(),
        // An account in no organization may still sign in to accept an invite: the
        // session then works on the invite page only.
        None if next.starts_with("/invite/") => String::new(),
        None => {
            return Err(AppError::Forbidden(
                "Your account is not a member of any organization any more.".into(),
            ))
        }
    };
    Ok(SignIn {
        user,
        org,
        partner,
        next,
    })
}

/// A new password for the signed-in user: `new_password` must be a valid password (checked
/// first), and `current_password` must be right, checked within the same limits as signing in
/// (per account and per `client_ip`), so that a stolen session cannot guess the password.
/// Returns the new session epoch: other sessions of the user end, the caller's session moves
/// to the new epoch.
pub async fn change_password(
    state: &AppState,
    user_id: &UserId,
    client_ip: &str,
    current_password: &str,
    new_password: &str,
) -> Result<i64> {
    let new = Password::parse("new_password", new_password)?;
    let user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let limits = session::password_limits(state, &user.email, client_ip);
    let ok = session::checked_password(state, limits, Some(user.password_hash), current_password)
        .await?;
    if !ok {
        return Err(AppError::field(
            "current_password",
            "this is not your current password",
        ));
    }
    let hash = state.passwords.hash(new.expose().to_string()).await?;
    Ok(state.store.set_password(user_id, &hash).await?)
}

/// Deletes the session's organization and everything it owns. Only an owner may, and only by
/// typing the organization's name exactly (surrounding spaces aside) as `confirm_name`.
pub async fn delete_org(state: &AppState, ctx: &Ctx, confirm_name: &str) -> Result<()> {
    ctx.require(Role::Owner)?;
    let orgs = state.store.user_orgs(&ctx.user).await?;
    let name = orgs
        .iter()
        .find(|o| o.id == ctx.org.as_str())
        .map(|o| o.name.clone())
        .unwrap_or_default();
    if confirm_name.trim() != name {
        return Err(AppError::field(
            "confirm_name",
            "type the organization's name exactly to confirm",
        ));
    }
    Ok(state.store.delete_org(&ctx.org).await?)
}

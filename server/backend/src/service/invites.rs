//! Opening and accepting an invite link, signed in or not. The session is passed in: who the
//! visitor is signed in as decides how the invite is accepted.

use super::Result;
use crate::auth;
use crate::domain::{Password, UserId};
use crate::session::{self, Attempt, Limit};
use crate::storage::{InviteAcceptor, SIGN_IN_TO_ACCEPT};
use crate::AppState;
use shared::error::AppError;
use tower_sessions::Session;

/// What an invite page shows.
pub struct InviteInfo {
    pub email: String,
    pub role: String,
    /// Who the visitor is signed in as, if anyone.
    pub signed_in_as: Option<String>,
}

/// The invite behind `token`, while it can be used (not accepted, not expired; else
/// `NotFound`), and who the visitor is signed in as. Whether the invited address has an
/// account is not said: an invite for an existing account is accepted by signing in as it.
pub async fn invite_info(state: &AppState, session: &Session, token: &str) -> Result<InviteInfo> {
    let now = state.now();
    let hash = auth::sha256_hex(token);
    let (email, role) = match state.store.invite_by_token_hash(&hash).await? {
        Some(i) => (i.accepted_at.is_none() && i.expires_at > now)
            .then(|| (i.email, i.role.to_string()))
            .ok_or(AppError::NotFound)?,
        None => state
            .store
            .partner_invite_by_token_hash(&hash)
            .await?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
            .map(|i| {
                (
                    i.email,
                    format!("partner user of {} (the partner portal)", i.partner_name),
                )
            })
            .ok_or(AppError::NotFound)?,
    };
    let signed_in_as = match session::signed_in(session, state).await {
        Ok(me) => Some(me.email),
        Err(_) => None,
    };
    Ok(InviteInfo {
        email,
        role,
        signed_in_as,
    })
}

/// Accepts the invite behind `token`, limited per client address like sign-in (every attempt
/// is reserved first, before anything is looked up; failed attempts count, since a token may
/// be guessed; an accepted invite does not).
///
/// Signed in: joins with that account (no password; storage refuses an invite for another
/// address) and the session switches to the organization joined. Not signed in: the invite
/// must be usable (`NotFound`), its address must have no account yet (`Conflict`: sign in
/// first; checked before the costly hash, and again atomically when accepting), `password`
/// must be a valid password; the account is created and a new session starts in the
/// organization joined. Returns where to go: `/`, or `/partner` for a partner invite.
pub async fn accept_invite(
    state: &AppState,
    session: &Session,
    client_ip: &str,
    token: &str,
    password: &str,
) -> Result<&'static str> {
    let limit = Limit {
        scope: format!("invite:{client_ip}"),
        max: state.settings.login_limit_per_ip,
    };
    // Failed attempts count (a token is guessed); an accepted invite does not.
    let attempt = Attempt::reserve(state, vec![limit], "invite attempts").await?;
    let token_hash = auth::sha256_hex(token);
    let signed_in = session::signed_in(session, state).await.ok();
    let me = signed_in
        .as_ref()
        .map(|u| UserId::from_trusted(u.id.clone()));
    let new_user = UserId::generate();
    let hash;
    // A team invite, or else a partner invite (the invited address and whether it is one).
    let now = state.now();
    let (email, for_partner) = match state.store.invite_by_token_hash(&token_hash).await? {
        Some(i) => (
            (i.accepted_at.is_none() && i.expires_at > now).then_some(i.email),
            false,
        ),
        None => (
            state
                .store
                .partner_invite_by_token_hash(&token_hash)
                .await?
                .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
                .map(|i| i.email),
            true,
        ),
    };
    let email = email.ok_or(AppError::NotFound)?;
    let acceptor = match &me {
        Some(me) => InviteAcceptor::SignedIn(me),
        None => {
            // Checked before the costly hash (and again, atomically, when accepting).
            if state.store.user_by_email(&email).await?.is_some() {
                return Err(AppError::Conflict(SIGN_IN_TO_ACCEPT.into()));
            }
            let p = Password::parse("password", password)?;
            hash = state.passwords.hash(p.expose().to_string()).await?;
            InviteAcceptor::NewUser {
                id: &new_user,
                password_hash: &hash,
            }
        }
    };
    let (user_id, org_id, partner) = if for_partner {
        let a = state
            .store
            .accept_partner_invite(&token_hash, acceptor, now)
            .await?;
        (a.user, a.org_id, Some(a.partner_id))
    } else {
        let a = state
            .store
            .accept_invite(&token_hash, acceptor, now)
            .await?;
        (a.user, a.org_id, None)
    };
    attempt.clear(state).await?;
    let user = state
        .store
        .user_by_id(&user_id)
        .await?
        .ok_or(AppError::Internal)?;
    // Signed in already: switch to the membership just made; else a new session there.
    if signed_in.is_none() {
        session::start(session, state, &user, &org_id).await?;
    }
    match &partner {
        Some(p) => session::enter_partner(session, &org_id, p).await?,
        None => session::enter(session, &org_id).await?,
    }
    Ok(if partner.is_some() { "/partner" } else { "/" })
}

//! An organization's members, their roles, and the invites to join it. The caller has checked
//! that the member may look (any role) or change (admin or owner); what only an owner may do is
//! checked here.

use super::{Result, DAY_MS};
use crate::audit::{self, changed, set, Actor};
use crate::auth;
use crate::domain::{Email, FieldError, OrgId, UserId, Validator};
use crate::session::Ctx;
use crate::storage::NewInvite;
use crate::AppState;
use shared::error::AppError;
use shared::model::{Invite, Member, Role};

/// How long an invite link can be used.
pub(crate) const INVITE_VALID_MS: i64 = 7 * DAY_MS;

/// The members of an organization and its pending invites.
pub struct Team {
    pub members: Vec<Member>,
    pub invites: Vec<Invite>,
}

/// The organization's members and pending invites, as any member may see them.
pub async fn team(state: &AppState, org: &OrgId) -> Result<Team> {
    Ok(Team {
        members: state.store.members(org).await?,
        invites: state.store.invites(org).await?,
    })
}

/// Invites `email` to the session's organization as `role`, which must be admin or viewer
/// (an owner is made by changing a member's role); both fields are checked and reported
/// together. The invite can be used for 7 days. Returns the one-time link to hand over
/// (`<public URL>/invite/<token>`): only the token's hash is stored.
pub async fn invite(
    state: &AppState,
    ctx: &Ctx,
    email: &str,
    role: &str,
    who: &Actor,
) -> Result<String> {
    let mut v = Validator::default();
    let email = v.check(Email::parse("email", email));
    let role = v.check(
        role.parse::<Role>()
            .ok()
            .filter(|r| *r != Role::Owner)
            .ok_or_else(|| FieldError::new("role", "choose admin or viewer")),
    );
    v.finish()?;
    let (email, role) = (email.unwrap(), role.unwrap());
    let token = auth::random_token(24);
    let now = state.now();
    let token_hash = auth::sha256_hex(&token);
    let invite = NewInvite {
        email: email.as_str(),
        role,
        token_hash: &token_hash,
        created_by: &ctx.user,
        now,
        expires_at: now + INVITE_VALID_MS,
    };
    let row = state.store.create_invite(&ctx.org, &invite).await?;
    let changes = vec![set("email", email.as_str()), set("role", role.as_str())];
    audit::record(
        state,
        &ctx.org,
        who,
        "invite.created",
        Some(&row.id),
        changes,
    )
    .await?;
    Ok(format!("{}/invite/{token}", state.settings.public_url))
}

/// Revokes one of the organization's pending invites.
pub async fn revoke_invite(state: &AppState, org: &OrgId, id: &str, who: &Actor) -> Result<()> {
    state.store.revoke_invite(org, id).await?;
    audit::record(state, org, who, "invite.revoked", Some(id), vec![]).await?;
    Ok(())
}

/// Gives a member of the session's organization another role. `NotFound` when `user_id` is
/// not a member; only an owner may change an owner's role or make someone an owner. Storage
/// keeps at least one owner and revokes the invites of a member who becomes a viewer.
pub async fn set_role(
    state: &AppState,
    ctx: &Ctx,
    user_id: &str,
    role: &str,
    who: &Actor,
) -> Result<()> {
    let role: Role = role
        .parse()
        .map_err(|m: String| AppError::field("role", m))?;
    let target = UserId::from_trusted(user_id);
    let current = state
        .store
        .member_role(&ctx.org, &target)
        .await?
        .ok_or(AppError::NotFound)?;
    if (current == Role::Owner || role == Role::Owner) && ctx.role != Role::Owner {
        return Err(AppError::Forbidden(
            "Only an owner can change who owns this organization.".into(),
        ));
    }
    // Storage keeps at least one owner, atomically (two owners stepping down at once
    // cannot both succeed), and revokes the invites of a member who becomes a viewer.
    state.store.set_member_role(&ctx.org, &target, role).await?;
    let changes: Vec<_> = changed(
        "role",
        Some(current.as_str().to_string()),
        Some(role.as_str().to_string()),
    )
    .into_iter()
    .collect();
    let label = member_label(state, &target).await?;
    audit::record(
        state,
        &ctx.org,
        who,
        "member.role_changed",
        Some(&label),
        changes,
    )
    .await?;
    Ok(())
}

/// A member as the audit log names them: their email (else their id).
async fn member_label(state: &AppState, user: &UserId) -> Result<String> {
    Ok(state
        .store
        .user_by_id(user)
        .await?
        .map_or_else(|| user.as_str().to_string(), |u| u.email))
}

/// Removes a member from the session's organization. `NotFound` when `user_id` is not a
/// member; only an owner may remove an owner, and the last owner stays (storage refuses).
pub async fn remove_member(state: &AppState, ctx: &Ctx, user_id: &str, who: &Actor) -> Result<()> {
    let target = UserId::from_trusted(user_id);
    let current = state
        .store
        .member_role(&ctx.org, &target)
        .await?
        .ok_or(AppError::NotFound)?;
    if current == Role::Owner && ctx.role != Role::Owner {
        return Err(AppError::Forbidden(
            "Only an owner can remove an owner.".into(),
        ));
    }
    let label = member_label(state, &target).await?;
    // Atomic: the last owner stays; the member's pending invites are revoked with them.
    state.store.remove_member(&ctx.org, &target).await?;
    let changes = vec![shared::model::AuditChange {
        field: "role".into(),
        before: Some(current.as_str().into()),
        after: None,
    }];
    audit::record(
        state,
        &ctx.org,
        who,
        "member.removed",
        Some(&label),
        changes,
    )
    .await?;
    Ok(())
}

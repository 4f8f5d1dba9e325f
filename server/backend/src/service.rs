//! Use cases shared by the REST API and the dashboard's server functions: parse the input
//! into domain types, call storage, shape the answer. Authorization happens before these
//! are called (an [`OrgId`] here is one the caller may act for).
//!
//! The dashboard's use cases by area are in the submodules: [`account`] (sign-up, sign-in,
//! password, organizations), [`team`] (members and invites), [`invites`] (opening and
//! accepting an invite) and [`overview`]. Those that act as a member take the session's
//! [`Ctx`](super::session::Ctx): the caller has checked the role the page needs; the rules
//! beyond it (e.g. what only an owner may do) are checked here.

pub mod account;
pub mod commissions;
pub mod exports;
pub mod invites;
pub mod overview;
pub mod portal;
pub mod settings;
pub mod team;
pub mod terms_form;

use super::audit::{self, changed, set, Actor};
use super::auth::{basic_auth_mac, new_api_key, new_webhook_token, webhook_token};
use super::domain::{Email, Key, Name, OrgId, Password, UserId, Validator};
use super::storage::{NewApiKey, NewCustomer, NewOrgRow};
use super::AppState;
use shared::error::AppError;
use shared::model::*;

pub type Result<T> = std::result::Result<T, AppError>;

const DAY_MS: i64 = 86_400_000;

pub struct NewOrg {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub webhook_url: String,
}

/// Sign-up: a new organization with a new owner.
pub async fn create_org(
    state: &AppState,
    name: &str,
    email: &str,
    password: &str,
) -> Result<NewOrg> {
    let mut v = Validator::default();
    let name = v.check(Name::parse("organization", name));
    let email = v.check(Email::parse("email", email));
    let password = v.check(Password::parse("password", password));
    v.finish()?;
    let (name, email, password) = (name.unwrap(), email.unwrap(), password.unwrap());
    // Checked before the (costly, bounded) hash: a taken address costs no password work.
    let taken = || {
        AppError::field(
            "email",
            "this email cannot be used to sign up; sign in instead, or ask your admin for an invite",
        )
    };
    if state.store.user_by_email(email.as_str()).await?.is_some() {
        return Err(taken());
    }
    let hash = state.passwords.hash(password.expose().to_string()).await?;
    let org_id = OrgId::generate();
    let user_id = UserId::generate();
    let (nonce, token, token_hash) = new_webhook_token(&state.settings.secret_key, &org_id);
    state
        .store
        .create_org(&NewOrgRow {
            org_id: &org_id,
            name: name.as_str(),
            owner: &user_id,
            email: email.as_str(),
            password_hash: Some(&hash),
            token_nonce: &nonce,
            token_hash: &token_hash,
            now: state.now(),
        })
        .await
        .map_err(|e| match AppError::from(e) {
            // Says only that the address cannot be used; it does not reveal whose it is.
            AppError::Conflict(_) => taken(),
            other => other,
        })?;
    Ok(NewOrg {
        org_id,
        user_id,
        webhook_url: state.settings.webhook_url(&token),
    })
}

/// Another organization for a signed-in user (who becomes its owner).
pub async fn create_additional_org(
    state: &AppState,
    user: &UserId,
    email: &str,
    name: &str,
) -> Result<OrgId> {
    let name = Name::parse("organization", name)?;
    let org_id = OrgId::generate();
    let (nonce, _, token_hash) = new_webhook_token(&state.settings.secret_key, &org_id);
    state
        .store
        .create_org(&NewOrgRow {
            org_id: &org_id,
            name: name.as_str(),
            owner: user,
            email,
            password_hash: None,
            token_nonce: &nonce,
            token_hash: &token_hash,
            now: state.now(),
        })
        .await?;
    Ok(org_id)
}

/// A new API key with `scope`; `created_by` is the member creating it (`None`: the command
/// line). Returns the key's row and its secret, shown once.
pub async fn create_api_key(
    state: &AppState,
    org: &OrgId,
    name: &str,
    scope: ApiScope,
    created_by: Option<&UserId>,
    who: &Actor,
) -> Result<(ApiKey, String)> {
    let name = Name::parse("name", name)?;
    let (key, prefix, hash) = new_api_key();
    let row = state
        .store
        .create_api_key(
            org,
            &NewApiKey {
                name: name.as_str(),
                prefix: &prefix,
                key_hash: &hash,
                scope,
                created_by,
                now: state.now(),
            },
        )
        .await?;
    let changes = vec![set("name", &row.name), set("scope", scope.as_str())];
    audit::record(
        state,
        org,
        who,
        "api_key.created",
        Some(&row.prefix),
        changes,
    )
    .await?;
    Ok((row, key))
}

/// Revokes one of the organization's API keys at once.
pub async fn revoke_api_key(state: &AppState, org: &OrgId, id: &str, who: &Actor) -> Result<()> {
    state.store.revoke_api_key(org, id, state.now()).await?;
    audit::record(state, org, who, "api_key.revoked", Some(id), vec![]).await?;
    Ok(())
}

pub async fn create_customer(
    state: &AppState,
    org: &OrgId,
    key: &str,
    email: Option<&str>,
    name: Option<&str>,
    partner_key: Option<&str>,
    who: &Actor,
) -> Result<(Customer, usize)> {
    let mut v = Validator::default();
    let key = v.check(Key::parse("key", key));
    let email = v.optional(email, |s| Email::parse("email", s));
    let name = v.optional(name, |s| Name::parse("name", s));
    let partner_key = v.optional(partner_key, |s| Key::parse("partner_key", s));
    v.finish()?;
    let c = NewCustomer {
        key: key.unwrap().into_string(),
        email: email.map(|e| e.as_str().to_string()),
        name: name.map(Name::into_string),
        partner_key: partner_key.map(Key::into_string),
    };
    let created = state.store.create_customer(org, &c, state.now()).await?;
    let changes = [
        ("email", &c.email),
        ("name", &c.name),
        ("partner", &c.partner_key),
    ]
    .into_iter()
    .filter_map(|(f, v)| changed(f, None, v.clone()))
    .collect();
    audit::record(state, org, who, "customer.created", Some(&c.key), changes).await?;
    Ok(created)
}

pub async fn customer(state: &AppState, org: &OrgId, key: &str) -> Result<Customer> {
    state
        .store
        .customer(org, key)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn save_partner(
    state: &AppState,
    org: &OrgId,
    key: &str,
    name: Option<&str>,
    email: Option<&str>,
    create: bool,
    who: &Actor,
) -> Result<Partner> {
    let mut v = Validator::default();
    let key = v.check(Key::parse("key", key));
    let name = v.optional(name, |s| Name::parse("name", s));
    let email = v.optional(email, |s| Email::parse("email", s));
    v.finish()?;
    let key = key.unwrap();
    let name = name.as_ref().map(Name::as_str);
    let email = email.as_ref().map(Email::as_str);
    let before = if create {
        None
    } else {
        state.store.partner(org, key.as_str()).await?
    };
    let saved = if create {
        state
            .store
            .create_partner(org, key.as_str(), name, email, state.now())
            .await?
    } else {
        state
            .store
            .update_partner(org, key.as_str(), name, email)
            .await?
    };
    let changes = [
        (
            "name",
            before.as_ref().and_then(|p| p.name.clone()),
            saved.name.clone(),
        ),
        (
            "email",
            before.as_ref().and_then(|p| p.email.clone()),
            saved.email.clone(),
        ),
    ]
    .into_iter()
    .filter_map(|(f, b, a)| changed(f, b, a))
    .collect();
    let action = if create {
        "partner.created"
    } else {
        "partner.updated"
    };
    audit::record(state, org, who, action, Some(key.as_str()), changes).await?;
    Ok(saved)
}

fn parse_plan(key: &str, name: &str) -> Result<(Key, Name)> {
    let mut v = Validator::default();
    let key = v.check(Key::parse("key", key));
    let name = v.check(Name::parse("name", name));
    v.finish()?;
    Ok((key.unwrap(), name.unwrap()))
}

pub async fn create_plan(
    state: &AppState,
    org: &OrgId,
    key: &str,
    name: &str,
    who: &Actor,
) -> Result<Plan> {
    let (key, name) = parse_plan(key, name)?;
    let plan = state
        .store
        .create_plan(org, key.as_str(), name.as_str(), state.now())
        .await
        .map_err(|e| conflict_on_field(e.into(), "key"))?;
    let changes = vec![set("name", &plan.name)];
    audit::record(state, org, who, "plan.created", Some(&plan.key), changes).await?;
    Ok(plan)
}

pub async fn update_plan(
    state: &AppState,
    org: &OrgId,
    key: &str,
    new_key: &str,
    name: &str,
    who: &Actor,
) -> Result<Plan> {
    let (new_key, name) = parse_plan(new_key, name)?;
    let before = state
        .store
        .plans(org)
        .await?
        .into_iter()
        .find(|p| p.key == key);
    let plan = state
        .store
        .update_plan(org, key, new_key.as_str(), name.as_str())
        .await
        .map_err(|e| conflict_on_field(e.into(), "key"))?;
    let changes = [
        changed("key", Some(key.to_string()), Some(plan.key.clone())),
        changed("name", before.map(|p| p.name), Some(plan.name.clone())),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit::record(state, org, who, "plan.updated", Some(key), changes).await?;
    Ok(plan)
}

/// Deletes a plan; returns how many subscriptions named it.
pub async fn delete_plan(state: &AppState, org: &OrgId, key: &str, who: &Actor) -> Result<i64> {
    let affected = state.store.delete_plan(org, key).await?;
    audit::record(state, org, who, "plan.deleted", Some(key), vec![]).await?;
    Ok(affected)
}

/// A uniqueness conflict shown as a message on the form field it concerns.
fn conflict_on_field(e: AppError, field: &str) -> AppError {
    match e {
        AppError::Conflict(m) => AppError::field(field, m),
        other => other,
    }
}

/// What the webhook URL looks like to someone who may not use it: the path without the token.
pub fn masked_webhook_url(state: &AppState) -> String {
    format!("{}/webhooks/chargebee/••••••••", state.settings.public_url)
}

/// The integration as `role` may see it: the webhook URL writes to the ledger, so only
/// admins and owners see it whole.
pub async fn integration(
    state: &AppState,
    org: &OrgId,
    role: Role,
) -> Result<ChargebeeIntegration> {
    let row = state.store.integration(org).await?;
    let now = state.now();
    let webhook_url = if role.can_write() {
        let token = webhook_token(&state.settings.secret_key, org, &row.token_nonce);
        state.settings.webhook_url(&token)
    } else {
        masked_webhook_url(state)
    };
    Ok(ChargebeeIntegration {
        webhook_url,
        basic_auth_username: row.basic_auth_username,
        previous_url_valid_until: row.previous_valid_until.filter(|t| *t > now),
        grace_days: state.settings.webhook_grace_ms / DAY_MS,
        last_event_at: state.store.last_event_at(org).await?,
        counts_24h: state
            .store
            .event_counts_since(org, now - DAY_MS + 1)
            .await?,
        health: integration_health(state, org).await?,
    })
}

/// The integration's health now: the latest delivery, deliveries per outcome over 24 hours
/// and 7 days (largest first), and the alerts [`crate::health::alerts`] finds.
pub async fn integration_health(state: &AppState, org: &OrgId) -> Result<IntegrationHealth> {
    let now = state.now();
    let facts = state.store.health_facts(org, now).await?;
    let by_size = |mut counts: Vec<(String, i64)>| {
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    };
    Ok(IntegrationHealth {
        last_delivery_at: facts.last_delivery_at,
        // Received after `now - 24 h` (and `now - 7 d`), as the alerts count them.
        counts_24h: by_size(
            state
                .store
                .event_counts_since(org, now - DAY_MS + 1)
                .await?,
        ),
        counts_7d: by_size(
            state
                .store
                .event_counts_since(org, now - crate::health::WINDOW_MS + 1)
                .await?,
        ),
        alerts: crate::health::alerts(&facts, now),
    })
}

/// A new webhook URL. The previous one keeps working for the grace period, or stops at once
/// with `revoke_previous` (e.g. when it leaked).
pub async fn rotate_webhook_url(
    state: &AppState,
    org: &OrgId,
    revoke_previous: bool,
    who: &Actor,
) -> Result<ChargebeeIntegration> {
    let (nonce, _, hash) = new_webhook_token(&state.settings.secret_key, org);
    let now = state.now();
    let grace = state.settings.webhook_grace_ms;
    let previous_valid_until = (!revoke_previous && grace > 0).then(|| now + grace);
    state
        .store
        .rotate_token(org, &nonce, &hash, previous_valid_until, now)
        .await?;
    let previous = match previous_valid_until {
        Some(until) => format!("works until {}", shared::model::format_time(until)),
        None => "stopped at once".into(),
    };
    let changes = vec![set("webhook URL", "new"), set("previous URL", previous)];
    audit::record(
        state,
        org,
        who,
        "integration.url_rotated",
        Some("chargebee"),
        changes,
    )
    .await?;
    integration(state, org, Role::Owner).await
}

pub async fn set_basic_auth(
    state: &AppState,
    org: &OrgId,
    creds: Option<(&str, &str)>,
    who: &Actor,
) -> Result<ChargebeeIntegration> {
    let before = state.store.integration(org).await?.basic_auth_username;
    match creds {
        None => state.store.set_basic_auth(org, None, None).await?,
        Some((user, password)) => {
            let mut v = Validator::default();
            let user = v.check(Key::parse("username", user).and_then(|u| {
                if u.as_str().contains(':') {
                    Err(super::domain::FieldError::new(
                        "username",
                        "must not contain a colon (:)",
                    ))
                } else {
                    Ok(u)
                }
            }));
            if password.chars().count() < 8 {
                v.errors.push(super::domain::FieldError::new(
                    "password",
                    "use at least 8 characters",
                ));
            }
            v.finish()?;
            let mac = basic_auth_mac(&state.settings.secret_key, org, password);
            state
                .store
                .set_basic_auth(org, Some(user.unwrap().as_str()), Some(&mac))
                .await?
        }
    }
    let on = |u: &Option<String>| Some(if u.is_some() { "on" } else { "off" }.to_string());
    let after = creds.map(|(u, _)| u.to_string());
    let mut changes: Vec<_> = [
        changed("basic auth", on(&before), on(&after)),
        changed("username", before.clone(), after.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if creds.is_some() {
        // The password itself is never recorded.
        changes.push(set("password", "changed"));
    }
    audit::record(
        state,
        org,
        who,
        "integration.basic_auth",
        Some("chargebee"),
        changes,
    )
    .await?;
    integration(state, org, Role::Owner).await
}

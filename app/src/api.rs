//! Server functions: the dashboard's calls into the server. Each one checks the session and
//! the role first; the organization always comes from the session, never from the browser.
//! URLs are stable (`/rpc/<name>`) so they can be tested and monitored.

use crate::error::AppError;
use crate::model::*;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
mod ctx {
    pub use crate::backend::session::Ctx;
    use crate::backend::{session, AppState};
    use crate::error::AppError;
    use crate::model::Role;
    use leptos::prelude::*;
    use tower_sessions::Session;

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!(error = %e, "no session layer");
            AppError::Internal
        })
    }

    /// The signed-in user (any role).
    pub async fn user() -> Result<(AppState, Ctx), AppError> {
        let state = state();
        let ctx = session::current(&session().await?, &state).await?;
        tracing::Span::current().record("org", ctx.org.as_str());
        Ok((state, ctx))
    }

    /// The signed-in user, refused unless admin or owner.
    pub async fn writer() -> Result<(AppState, Ctx), AppError> {
        let (state, ctx) = user().await?;
        ctx.require(Role::Admin)?;
        Ok((state, ctx))
    }

    /// How many owners the current organization has.
    pub async fn owner_count(state: &AppState, ctx: &Ctx) -> Result<usize, AppError> {
        let members = state.store.members(&ctx.org).await?;
        Ok(members
            .iter()
            .filter(|m| m.role == Role::Owner.as_str())
            .count())
    }

    pub async fn client_ip(state: &AppState) -> String {
        use axum::extract::ConnectInfo;
        use std::net::SocketAddr;
        let peer = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|c| c.0);
        let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.ok();
        let forwarded = headers
            .as_ref()
            .and_then(|h| h.get("x-forwarded-for"))
            .and_then(|v| v.to_str().ok());
        session::client_ip(peer, forwarded, state.settings.trust_forwarded_for)
    }

    /// Sets the HTTP status of a failed call (success stays 200). Plain HTML form posts (no
    /// JavaScript yet) keep Leptos's redirect back to the form, which carries the error.
    pub fn status<T>(r: Result<T, AppError>) -> Result<T, AppError> {
        let html_form = use_context::<axum::http::request::Parts>().is_some_and(|p| {
            p.headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if let (Err(e), false) = (&r, html_form) {
            if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
                opts.set_status(
                    axum::http::StatusCode::from_u16(e.status())
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                );
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

#[server(prefix = "/rpc", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    let state = ctx::state();
    match crate::backend::session::me(&ctx::session().await?, &state).await {
        Ok(me) => Ok(Some(me)),
        Err(AppError::Unauthorized) => Ok(None),
        Err(e) => ctx::status(Err(e)),
    }
}

#[server(prefix = "/rpc", endpoint = "signup")]
pub async fn signup(organization: String, email: String, password: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let state = ctx::state();
            let org = crate::backend::service::create_org(&state, &organization, &email, &password)
                .await?;
            let user = state
                .store
                .user_by_id(&org.user_id)
                .await?
                .ok_or(AppError::Internal)?;
            crate::backend::session::start(&ctx::session().await?, &user, org.org_id.as_str())
                .await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let state = ctx::state();
            let ip = ctx::client_ip(&state).await;
            let user =
                crate::backend::session::check_credentials(&state, &email, &password, &ip).await?;
            let user_id = crate::backend::domain::UserId::from_trusted(user.id.clone());
            let orgs = state.store.user_orgs(&user_id).await?;
            let Some(first) = orgs.first() else {
                return Err(AppError::Forbidden(
                    "Your account is not a member of any organization any more.".into(),
                ));
            };
            crate::backend::session::start(&ctx::session().await?, &user, &first.id).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::backend::session::logout(&ctx::session().await?).await;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            let new = crate::backend::domain::Password::parse("new_password", &new_password)?;
            let user = state
                .store
                .user_by_id(&ctx.user)
                .await?
                .ok_or(AppError::Unauthorized)?;
            let ok =
                crate::backend::auth::verify_password(Some(user.password_hash), current_password)
                    .await?;
            if !ok {
                return Err(AppError::field(
                    "current_password",
                    "this is not your current password",
                ));
            }
            let hash = crate::backend::auth::hash_password(new.expose().to_string()).await?;
            let epoch = state.store.set_password(&ctx.user, &hash).await?;
            crate::backend::session::set_epoch(&ctx::session().await?, epoch).await?;
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "switch_org")]
pub async fn switch_org(org_id: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let state = ctx::state();
            crate::backend::session::switch_org(&ctx::session().await?, &state, &org_id).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "create_org")]
pub async fn create_org(name: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            let org = crate::backend::service::create_additional_org(
                &state, &ctx.user, &ctx.email, &name,
            )
            .await?;
            crate::backend::session::switch_org(&ctx::session().await?, &state, org.as_str())
                .await?;
            leptos_axum::redirect("/settings/integrations/webhooks/chargebee");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "delete_org")]
pub async fn delete_org(confirm_name: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
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
            state.store.delete_org(&ctx.org).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Team and invites
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub members: Vec<Member>,
    pub invites: Vec<Invite>,
}

#[server(prefix = "/rpc", endpoint = "team")]
pub async fn get_team() -> Result<Team, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            Ok(Team {
                members: state.store.members(&ctx.org).await?,
                invites: state.store.invites(&ctx.org).await?,
            })
        }
        .await,
    )
}

/// Creates an invite and returns the one-time link to hand over.
#[server(prefix = "/rpc", endpoint = "invite")]
pub async fn invite_member(email: String, role: String) -> Result<String, AppError> {
    ctx::status(
        async {
            use crate::backend::{auth, domain::Email, now_ms};
            let (state, ctx) = ctx::writer().await?;
            let mut v = crate::backend::domain::Validator::default();
            let email = v.check(Email::parse("email", &email));
            let role = v.check(
                role.parse::<Role>()
                    .ok()
                    .filter(|r| *r != Role::Owner)
                    .ok_or_else(|| {
                        crate::backend::domain::FieldError::new("role", "choose admin or viewer")
                    }),
            );
            v.finish()?;
            let (email, role) = (email.unwrap(), role.unwrap());
            let token = auth::random_token(24);
            let now = now_ms();
            let token_hash = auth::sha256_hex(&token);
            let invite = crate::backend::storage::NewInvite {
                email: email.as_str(),
                role,
                token_hash: &token_hash,
                created_by: &ctx.user,
                now,
                expires_at: now + 7 * 86_400_000,
            };
            state.store.create_invite(&ctx.org, &invite).await?;
            Ok(format!("{}/invite/{token}", state.settings.public_url))
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "revoke_invite")]
pub async fn revoke_invite(id: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            Ok(state.store.revoke_invite(&ctx.org, &id).await?)
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "set_role")]
pub async fn set_role(user_id: String, role: String) -> Result<(), AppError> {
    ctx::status(
        async {
            use crate::backend::domain::UserId;
            let (state, ctx) = ctx::writer().await?;
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
            if current == Role::Owner && role != Role::Owner {
                let owners = ctx::owner_count(&state, &ctx).await?;
                if owners <= 1 {
                    return Err(AppError::Conflict(
                        "An organization needs at least one owner; make someone else owner first."
                            .into(),
                    ));
                }
            }
            Ok(state.store.set_member_role(&ctx.org, &target, role).await?)
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(user_id: String) -> Result<(), AppError> {
    ctx::status(
        async {
            use crate::backend::domain::UserId;
            let (state, ctx) = ctx::writer().await?;
            let target = UserId::from_trusted(user_id);
            let current = state
                .store
                .member_role(&ctx.org, &target)
                .await?
                .ok_or(AppError::NotFound)?;
            if current == Role::Owner {
                if ctx.role != Role::Owner {
                    return Err(AppError::Forbidden(
                        "Only an owner can remove an owner.".into(),
                    ));
                }
                let owners = ctx::owner_count(&state, &ctx).await?;
                if owners <= 1 {
                    return Err(AppError::Conflict(
                        "An organization needs at least one owner.".into(),
                    ));
                }
            }
            Ok(state.store.remove_member(&ctx.org, &target).await?)
        }
        .await,
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub email: String,
    pub role: String,
    /// The email already has an account: accept with its existing password.
    pub existing_user: bool,
}

#[server(prefix = "/rpc", endpoint = "invite_info")]
pub async fn invite_info(token: String) -> Result<InviteDetails, AppError> {
    ctx::status(
        async {
            use crate::backend::{auth::sha256_hex, now_ms};
            let state = ctx::state();
            let invite = state
                .store
                .invite_by_token_hash(&sha256_hex(&token))
                .await?
                .filter(|i| i.accepted_at.is_none() && i.expires_at > now_ms())
                .ok_or(AppError::NotFound)?;
            let existing_user = state.store.user_by_email(&invite.email).await?.is_some();
            Ok(InviteDetails {
                email: invite.email,
                role: invite.role,
                existing_user,
            })
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "accept_invite")]
pub async fn accept_invite(token: String, password: String) -> Result<(), AppError> {
    ctx::status(
        async {
            use crate::backend::{
                auth,
                domain::{Password, UserId},
                now_ms,
            };
            let state = ctx::state();
            let invite = state
                .store
                .invite_by_token_hash(&auth::sha256_hex(&token))
                .await?
                .filter(|i| i.accepted_at.is_none() && i.expires_at > now_ms())
                .ok_or(AppError::NotFound)?;
            let hash = match state.store.user_by_email(&invite.email).await? {
                Some(existing) => {
                    // Joining with an existing account proves it with that account's password.
                    if !auth::verify_password(
                        Some(existing.password_hash.clone()),
                        password.clone(),
                    )
                    .await?
                    {
                        return Err(AppError::field(
                            "password",
                            "this is not the password of your existing account",
                        ));
                    }
                    existing.password_hash
                }
                None => {
                    let p = Password::parse("password", &password)?;
                    auth::hash_password(p.expose().to_string()).await?
                }
            };
            let user_id = state
                .store
                .accept_invite(&invite, &UserId::generate(), &hash, now_ms())
                .await?;
            let user = state
                .store
                .user_by_id(&user_id)
                .await?
                .ok_or(AppError::Internal)?;
            crate::backend::session::start(&ctx::session().await?, &user, &invite.org_id).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[server(prefix = "/rpc", endpoint = "api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            Ok(state.store.api_keys(&ctx.org).await?)
        }
        .await,
    )
}

/// Returns the new key's secret, shown once.
#[server(prefix = "/rpc", endpoint = "create_api_key")]
pub async fn create_api_key(name: String) -> Result<String, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            let (_, secret) =
                crate::backend::service::create_api_key(&state, &ctx.org, &name).await?;
            Ok(secret)
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            Ok(state
                .store
                .revoke_api_key(&ctx.org, &id, crate::backend::now_ms())
                .await?)
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Chargebee integration
// ---------------------------------------------------------------------------------------------

#[server(prefix = "/rpc", endpoint = "chargebee")]
pub async fn get_chargebee() -> Result<ChargebeeIntegration, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            crate::backend::service::integration(&state, &ctx.org).await
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "rotate_chargebee")]
pub async fn rotate_chargebee() -> Result<ChargebeeIntegration, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            crate::backend::service::rotate_webhook_url(&state, &ctx.org).await
        }
        .await,
    )
}

/// Sets (both given) or removes (both blank) the webhook's Basic Auth.
#[server(prefix = "/rpc", endpoint = "chargebee_basic_auth")]
pub async fn set_basic_auth(
    username: String,
    password: String,
) -> Result<ChargebeeIntegration, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            let creds = if username.trim().is_empty() && password.is_empty() {
                None
            } else {
                Some((username.as_str(), password.as_str()))
            };
            crate::backend::service::set_basic_auth(&state, &ctx.org, creds).await
        }
        .await,
    )
}

/// Sends a harmless event to this organization's webhook URL, over HTTP to this server's own
/// listener (the real endpoint), and returns how it was recorded. Basic Auth, if configured, is
/// replaced by a signature of the body that only this server can make.
#[server(prefix = "/rpc", endpoint = "send_test_event")]
pub async fn send_test_event() -> Result<EventSummary, AppError> {
    ctx::status(
        async {
            use crate::backend::{auth, ingest, now_ms};
            let (state, ctx) = ctx::writer().await?;
            let row = state.store.integration(&ctx.org).await?;
            let token = auth::webhook_token(&state.settings.secret_key, &ctx.org, &row.token_nonce);
            let body = ingest::test_event_body(now_ms());
            let signature = auth::test_event_signature(&state.settings.secret_key, &ctx.org, body.as_bytes());
            let addr = state.leptos_options.site_addr;
            let url = format!("http://{addr}/webhooks/chargebee/{token}");
            let response = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header(ingest::TEST_SIGNATURE_HEADER, signature)
                .body(body)
                .timeout(std::time::Duration::from_secs(20))
                .send()
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, %url, "test event could not reach the webhook endpoint");
                    AppError::Unavailable
                })?;
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            if !status.is_success() {
                tracing::warn!(%status, %answer, "test event refused by the webhook endpoint");
                return Err(match status.as_u16() {
                    503 => AppError::Unavailable,
                    _ => AppError::Conflict(format!(
                        "The webhook endpoint answered {status}: {}",
                        answer["error"].as_str().unwrap_or("no details")
                    )),
                });
            }
            let id = answer["event"].as_str().ok_or(AppError::Internal)?;
            let e = state.store.event(&ctx.org, id).await?.ok_or(AppError::Internal)?;
            Ok(e.into())
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plans {
    pub plans: Vec<Plan>,
    pub detected: Vec<DetectedPlan>,
}

#[server(prefix = "/rpc", endpoint = "plans")]
pub async fn get_plans() -> Result<Plans, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            Ok(Plans {
                plans: state.store.plans(&ctx.org).await?,
                detected: state.store.detected_plans(&ctx.org).await?,
            })
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "create_plan")]
pub async fn create_plan(key: String, name: String) -> Result<Plan, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            crate::backend::service::create_plan(&state, &ctx.org, &key, &name).await
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "update_plan")]
pub async fn update_plan(key: String, new_key: String, name: String) -> Result<Plan, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            crate::backend::service::update_plan(&state, &ctx.org, &key, &new_key, &name).await
        }
        .await,
    )
}

/// Deletes a plan; returns how many subscriptions lost their plan name.
#[server(prefix = "/rpc", endpoint = "delete_plan")]
pub async fn delete_plan(key: String) -> Result<i64, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            Ok(state.store.delete_plan(&ctx.org, &key).await?)
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Customers and partners
// ---------------------------------------------------------------------------------------------

pub const PAGE_SIZE: i64 = 25;

#[server(prefix = "/rpc", endpoint = "customers")]
pub async fn list_customers(
    search: Option<String>,
    cursor: Option<String>,
) -> Result<Page<CustomerListRow>, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            Ok(state
                .store
                .customers(
                    &ctx.org,
                    search.as_deref(),
                    cursor.as_deref().filter(|c| !c.is_empty()),
                    PAGE_SIZE,
                )
                .await?)
        }
        .await,
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerDetail {
    pub customer: Customer,
    pub transactions: Vec<Transaction>,
    pub subscriptions: Vec<Subscription>,
    pub events: Vec<EventSummary>,
}

#[server(prefix = "/rpc", endpoint = "customer")]
pub async fn get_customer(key: String) -> Result<CustomerDetail, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            let customer = crate::backend::service::customer(&state, &ctx.org, &key).await?;
            let filter = crate::backend::storage::EventFilter {
                customer_id: Some(customer.id.clone()),
                ..Default::default()
            };
            Ok(CustomerDetail {
                transactions: state.store.transactions(&ctx.org, &customer.id).await?,
                subscriptions: state.store.subscriptions(&ctx.org, &customer.id).await?,
                events: state.store.events(&ctx.org, &filter, None, 50).await?.items,
                customer,
            })
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "create_customer")]
pub async fn create_customer(
    key: String,
    email: String,
    name: String,
    partner_key: String,
) -> Result<Customer, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
            let (c, _) = crate::backend::service::create_customer(
                &state,
                &ctx.org,
                &key,
                opt(&email).as_deref(),
                opt(&name).as_deref(),
                opt(&partner_key).as_deref(),
            )
            .await?;
            Ok(c)
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "partners")]
pub async fn list_partners() -> Result<Vec<Partner>, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            Ok(state.store.partners(&ctx.org).await?)
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "save_partner")]
pub async fn save_partner(
    key: String,
    name: String,
    email: String,
    create: bool,
) -> Result<Partner, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
            crate::backend::service::save_partner(
                &state,
                &ctx.org,
                &key,
                opt(&name).as_deref(),
                opt(&email).as_deref(),
                create,
            )
            .await
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Webhook events
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventList {
    pub page: Page<EventSummary>,
    pub types: Vec<String>,
}

#[server(prefix = "/rpc", endpoint = "events")]
pub async fn list_events(
    outcome: Option<String>,
    event_type: Option<String>,
    cursor: Option<String>,
) -> Result<EventList, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            let filter = crate::backend::storage::EventFilter {
                outcome: outcome.filter(|o| OUTCOMES.contains(&o.as_str())),
                event_type: event_type.filter(|t| !t.is_empty()),
                customer_id: None,
            };
            Ok(EventList {
                page: state
                    .store
                    .events(
                        &ctx.org,
                        &filter,
                        cursor.as_deref().filter(|c| !c.is_empty()),
                        PAGE_SIZE,
                    )
                    .await?,
                types: state.store.event_types(&ctx.org).await?,
            })
        }
        .await,
    )
}

#[server(prefix = "/rpc", endpoint = "event")]
pub async fn get_event(id: String) -> Result<EventDetail, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::user().await?;
            let mut e = state
                .store
                .event(&ctx.org, &id)
                .await?
                .ok_or(AppError::NotFound)?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.payload) {
                e.payload = serde_json::to_string_pretty(&v).unwrap_or(e.payload);
            }
            Ok(e)
        }
        .await,
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayResult {
    pub outcome: String,
    pub detail: Option<String>,
    pub released: usize,
}

#[server(prefix = "/rpc", endpoint = "replay_event")]
pub async fn replay_event(id: String) -> Result<ReplayResult, AppError> {
    ctx::status(
        async {
            let (state, ctx) = ctx::writer().await?;
            let o = crate::backend::ingest::replay(&state, &ctx.org, &id).await?;
            Ok(ReplayResult {
                outcome: o.outcome,
                detail: o.detail,
                released: o.released,
            })
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub since: i64,
    pub revenue: Vec<RevenuePoint>,
    pub top_partners: Vec<Partner>,
    pub needs_action: Vec<EventSummary>,
    pub unmatched: i64,
    pub failed: i64,
}

#[server(prefix = "/rpc", endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    ctx::status(
        async {
            use crate::backend::storage::EventFilter;
            let (state, ctx) = ctx::user().await?;
            let now = crate::backend::now_ms();
            let since = (now / 86_400_000 - 89) * 86_400_000;
            let mut partners = state.store.partners(&ctx.org).await?;
            partners.sort_by(|a, b| b.net_revenue.cmp(&a.net_revenue).then(a.key.cmp(&b.key)));
            partners.truncate(5);
            let counts = state.store.event_counts_since(&ctx.org, 0).await?;
            let count = |o: &str| {
                counts
                    .iter()
                    .find(|(k, _)| k == o)
                    .map(|(_, n)| *n)
                    .unwrap_or(0)
            };
            let mut needs_action = vec![];
            for outcome in ["failed", "unmatched"] {
                let f = EventFilter {
                    outcome: Some(outcome.into()),
                    ..Default::default()
                };
                needs_action.extend(state.store.events(&ctx.org, &f, None, 5).await?.items);
            }
            Ok(Overview {
                since,
                revenue: state.store.revenue_by_day(&ctx.org, since).await?,
                top_partners: partners,
                needs_action,
                unmatched: count("unmatched"),
                failed: count("failed"),
            })
        }
        .await,
    )
}

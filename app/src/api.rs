//! Server functions: the dashboard's calls into the server. Each one checks the session and
//! the role first; the organization always comes from the session, never from the browser.
//! URLs are stable (`/rpc/<name>`) so they can be tested and monitored.

use crate::error::AppError;
use crate::model::*;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
mod ctx {
    use crate::error::AppError;
    use crate::model::Role;
    pub use backend::session::Ctx;
    use backend::{session, AppState};
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

    pub async fn client_ip(state: &AppState) -> String {
        use axum::extract::ConnectInfo;
        use std::net::SocketAddr;
        let peer = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|c| c.0);
        let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.ok();
        // Every `X-Forwarded-For` line, in order: a proxy may add its own line rather than
        // append to the client's.
        let forwarded = headers.as_ref().map(|h| {
            h.get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        });
        session::client_ip(
            peer,
            forwarded.as_deref().filter(|f| !f.is_empty()),
            state.settings.trusted_proxies,
        )
    }

    /// Who is acting, for the audit log: the signed-in user, from their address.
    /// The signed-in partner user, in the portal; `Forbidden` for a team session.
    pub async fn partner() -> Result<(AppState, backend::session::PartnerCtx), AppError> {
        let state = state();
        let ctx = session::current_partner(&session().await?, &state).await?;
        tracing::Span::current().record("org", ctx.org.as_str());
        Ok((state, ctx))
    }

    pub async fn actor(state: &AppState, ctx: &Ctx) -> backend::audit::Actor {
        let ip = client_ip(state).await;
        backend::audit::Actor::user(ctx.user.as_str(), &ctx.email, &ip)
    }

    /// Runs a server function's body and sets the HTTP status of its failure (see [`status`]).
    pub async fn answer<T>(
        body: impl std::future::Future<Output = Result<T, AppError>>,
    ) -> Result<T, AppError> {
        status(body.await)
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
                // Busy (password work at its bound) or the database away: come back soon.
                if e.status() == 503 {
                    opts.insert_header(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from_static("5"),
                    );
                }
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
    match backend::session::me(&ctx::session().await?, &state).await {
        Ok(me) => Ok(Some(me)),
        Err(AppError::Unauthorized) => Ok(None),
        Err(e) => ctx::status(Err(e)),
    }
}

#[server(prefix = "/rpc", endpoint = "signup")]
pub async fn signup(organization: String, email: String, password: String) -> Result<(), AppError> {
    ctx::answer(async {
        let state = ctx::state();
        let ip = ctx::client_ip(&state).await;
        let (user, org) =
            backend::service::account::sign_up(&state, &ip, &organization, &email, &password)
                .await?;
        backend::session::start(&ctx::session().await?, &state, &user, org.as_str()).await?;
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}

/// Signs in. `next` (a local path, e.g. an invite link) is where to go afterwards.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(
    email: String,
    password: String,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    ctx::answer(async {
        let state = ctx::state();
        let ip = ctx::client_ip(&state).await;
        let signed =
            backend::service::account::sign_in(&state, &email, &password, &ip, next.as_deref())
                .await?;
        let session = ctx::session().await?;
        backend::session::start(&session, &state, &signed.user, &signed.org).await?;
        if let Some(partner) = &signed.partner {
            backend::session::enter_partner(&session, &signed.org, partner).await?;
        }
        leptos_axum::redirect(&signed.next);
        Ok(())
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    backend::session::logout(&ctx::session().await?).await;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    ctx::answer(async {
        // Any signed-in account, team member or partner user: it changes only the account.
        let state = ctx::state();
        let session = ctx::session().await?;
        let user = backend::session::signed_in(&session, &state).await?;
        let user = backend::domain::UserId::from_trusted(user.id);
        let ip = ctx::client_ip(&state).await;
        let epoch = backend::service::account::change_password(
            &state,
            &user,
            &ip,
            &current_password,
            &new_password,
        )
        .await?;
        backend::session::set_epoch(&ctx::session().await?, epoch).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "switch_org")]
pub async fn switch_org(org_id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let state = ctx::state();
        let to = backend::session::switch_org(&ctx::session().await?, &state, &org_id).await?;
        leptos_axum::redirect(to);
        Ok(())
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "create_org")]
pub async fn create_org(name: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let org =
            backend::service::create_additional_org(&state, &ctx.user, &ctx.email, &name).await?;
        backend::session::switch_org(&ctx::session().await?, &state, org.as_str()).await?;
        leptos_axum::redirect("/settings/integrations/webhooks/chargebee");
        Ok(())
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "delete_org")]
pub async fn delete_org(confirm_name: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        backend::service::account::delete_org(&state, &ctx, &confirm_name).await?;
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Team and invites
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub members: Vec<Member>,
    pub invites: Vec<Invite>,
}

#[cfg(feature = "ssr")]
impl From<backend::service::team::Team> for Team {
    fn from(t: backend::service::team::Team) -> Self {
        Self {
            members: t.members,
            invites: t.invites,
        }
    }
}

#[server(prefix = "/rpc", endpoint = "team")]
pub async fn get_team() -> Result<Team, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let team = backend::service::team::team(&state, &ctx.org).await?;
        Ok(team.into())
    })
    .await
}

/// Creates an invite and returns the one-time link to hand over.
#[server(prefix = "/rpc", endpoint = "invite")]
pub async fn invite_member(email: String, role: String) -> Result<String, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::team::invite(&state, &ctx, &email, &role, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "revoke_invite")]
pub async fn revoke_invite(id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::team::revoke_invite(&state, &ctx.org, &id, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "set_role")]
pub async fn set_role(user_id: String, role: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::team::set_role(&state, &ctx, &user_id, &role, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(user_id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::team::remove_member(&state, &ctx, &user_id, &who).await
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub email: String,
    pub role: String,
    /// Who the visitor is signed in as, if anyone. Whether the invited address has an account
    /// is not said: an invite for an existing account is accepted by signing in as it.
    pub signed_in_as: Option<String>,
}

#[cfg(feature = "ssr")]
impl From<backend::service::invites::InviteInfo> for InviteDetails {
    fn from(i: backend::service::invites::InviteInfo) -> Self {
        Self {
            email: i.email,
            role: i.role,
            signed_in_as: i.signed_in_as,
        }
    }
}

#[server(prefix = "/rpc", endpoint = "invite_info")]
pub async fn invite_info(token: String) -> Result<InviteDetails, AppError> {
    ctx::answer(async {
        let state = ctx::state();
        let session = ctx::session().await?;
        let info = backend::service::invites::invite_info(&state, &session, &token).await?;
        Ok(info.into())
    })
    .await
}

/// Accepts an invite. Signed in as the invited address: joins with that account (no password).
/// Not signed in: creates the account with `password`; an address that already has an account
/// must sign in first. Limited per client address like sign-in.
#[server(prefix = "/rpc", endpoint = "accept_invite")]
pub async fn accept_invite(
    token: String,
    #[server(default)] password: String,
) -> Result<(), AppError> {
    ctx::answer(async {
        let state = ctx::state();
        let session = ctx::session().await?;
        let ip = ctx::client_ip(&state).await;
        let to = backend::service::invites::accept_invite(&state, &session, &ip, &token, &password)
            .await?;
        leptos_axum::redirect(to);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[server(prefix = "/rpc", endpoint = "api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        Ok(state.store.api_keys(&ctx.org).await?)
    })
    .await
}

/// Returns the new key's secret, shown once.
/// `scope`: `read` (reads only) or `full` (also changes data and sees the webhook URL);
/// `full` when not given, as before scopes existed.
#[server(prefix = "/rpc", endpoint = "create_api_key")]
pub async fn create_api_key(
    name: String,
    #[server(default)] scope: Option<String>,
) -> Result<String, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let scope = match scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => ApiScope::Full,
            Some(s) => s
                .parse::<ApiScope>()
                .map_err(|m| AppError::field("scope", m))?,
        };
        let (_, secret) = backend::service::create_api_key(
            &state,
            &ctx.org,
            &name,
            scope,
            Some(&ctx.user),
            &ctx::actor(&state, &ctx).await,
        )
        .await?;
        Ok(secret)
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::revoke_api_key(&state, &ctx.org, &id, &who).await
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Chargebee integration
// ---------------------------------------------------------------------------------------------

#[server(prefix = "/rpc", endpoint = "chargebee")]
pub async fn get_chargebee() -> Result<ChargebeeIntegration, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        backend::service::integration(&state, &ctx.org, ctx.role).await
    })
    .await
}

/// A new webhook URL; the old one keeps working for the grace period, or stops at once with
/// `revoke_previous`.
#[server(prefix = "/rpc", endpoint = "rotate_chargebee")]
pub async fn rotate_chargebee(
    #[server(default)] revoke_previous: bool,
) -> Result<ChargebeeIntegration, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::rotate_webhook_url(&state, &ctx.org, revoke_previous, &who).await
    })
    .await
}

/// Sets (both given) or removes (both blank) the webhook's Basic Auth.
#[server(prefix = "/rpc", endpoint = "chargebee_basic_auth")]
pub async fn set_basic_auth(
    username: String,
    password: String,
) -> Result<ChargebeeIntegration, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let creds = if username.trim().is_empty() && password.is_empty() {
            None
        } else {
            Some((username.as_str(), password.as_str()))
        };
        let who = ctx::actor(&state, &ctx).await;
        backend::service::set_basic_auth(&state, &ctx.org, creds, &who).await
    })
    .await
}

/// Sends a harmless event through this organization's webhook pipeline, in-process (see
/// `ingest::send_test_event`), and returns how it was recorded.
#[server(prefix = "/rpc", endpoint = "send_test_event")]
pub async fn send_test_event() -> Result<EventSummary, AppError> {
    ctx::answer(async {
        use backend::ingest::{self, DeliveryError};
        let (state, ctx) = ctx::writer().await?;
        let outcome = ingest::send_test_event(&state, &ctx.org)
            .await
            .map_err(|e| match e {
                DeliveryError::Unavailable => AppError::Unavailable,
                other => {
                    tracing::warn!(error = %other, "the test event was refused");
                    AppError::Conflict(format!("The test event was refused: {other}"))
                }
            })?;
        let e = state
            .store
            .event(&ctx.org, &outcome.id)
            .await?
            .ok_or(AppError::Internal)?;
        Ok(e.into())
    })
    .await
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
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        Ok(Plans {
            plans: state.store.plans(&ctx.org).await?,
            detected: state.store.detected_plans(&ctx.org).await?,
        })
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "create_plan")]
pub async fn create_plan(key: String, name: String) -> Result<Plan, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::create_plan(&state, &ctx.org, &key, &name, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "update_plan")]
pub async fn update_plan(key: String, new_key: String, name: String) -> Result<Plan, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::update_plan(&state, &ctx.org, &key, &new_key, &name, &who).await
    })
    .await
}

/// Deletes a plan; returns how many subscriptions lost their plan name.
#[server(prefix = "/rpc", endpoint = "delete_plan")]
pub async fn delete_plan(key: String) -> Result<i64, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::delete_plan(&state, &ctx.org, &key, &who).await
    })
    .await
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
    ctx::answer(async {
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
    })
    .await
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
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let customer = backend::service::customer(&state, &ctx.org, &key).await?;
        let filter = backend::storage::EventFilter {
            customer_id: Some(customer.id.clone()),
            ..Default::default()
        };
        Ok(CustomerDetail {
            transactions: state.store.transactions(&ctx.org, &customer.id).await?,
            subscriptions: state.store.subscriptions(&ctx.org, &customer.id).await?,
            events: state.store.events(&ctx.org, &filter, None, 50).await?.items,
            customer,
        })
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "create_customer")]
pub async fn create_customer(
    key: String,
    email: String,
    name: String,
    partner_key: String,
) -> Result<Customer, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        let (c, _) = backend::service::create_customer(
            &state,
            &ctx.org,
            &key,
            opt(&email).as_deref(),
            opt(&name).as_deref(),
            opt(&partner_key).as_deref(),
            &ctx::actor(&state, &ctx).await,
        )
        .await?;
        Ok(c)
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "partners")]
pub async fn list_partners() -> Result<Vec<Partner>, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        Ok(state.store.partners(&ctx.org).await?)
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "save_partner")]
pub async fn save_partner(
    key: String,
    name: String,
    email: String,
    create: bool,
) -> Result<Partner, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        backend::service::save_partner(
            &state,
            &ctx.org,
            &key,
            opt(&name).as_deref(),
            opt(&email).as_deref(),
            create,
            &ctx::actor(&state, &ctx).await,
        )
        .await
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Commissions and payouts
// ---------------------------------------------------------------------------------------------

/// `None` or `""`: the organization's default; otherwise a partner's key.
#[cfg(feature = "ssr")]
fn partner_of(partner: &Option<String>) -> Option<&str> {
    partner.as_deref().filter(|p| !p.is_empty())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommissionSettings {
    pub terms: CommissionTerms,
    pub reporting_currency: String,
    /// The server's time.
    pub now: i64,
}

#[server(prefix = "/rpc", endpoint = "commission_settings")]
pub async fn get_commission_settings() -> Result<CommissionSettings, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        use backend::service::commissions as c;
        Ok(CommissionSettings {
            terms: c::terms_page(&state, &ctx.org, None).await?,
            reporting_currency: c::reporting_currency(&state, &ctx.org).await?,
            now: state.now(),
        })
    })
    .await
}

/// The terms form: every field as typed (see `backend::service::terms_form`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TermsInput {
    pub values: TermsFormValues,
    /// `YYYY-MM-DD`, or empty for now.
    pub effective_from: String,
}

#[cfg(feature = "ssr")]
fn spec_of(input: &TermsInput) -> Result<backend::commission::TermsSpec, AppError> {
    let v = &input.values;
    backend::service::terms_form::TermsForm {
        kind: &v.kind,
        percent: &v.percent,
        flat_amount: &v.flat_amount,
        currency: &v.currency,
        duration: &v.duration,
        duration_count: &v.duration_count,
        hold_days: &v.hold_days,
        plan_rates: &v.plan_rates,
        effective_from: &input.effective_from,
    }
    .to_spec()
}

#[server(prefix = "/rpc", endpoint = "save_terms")]
pub async fn save_terms(
    #[server(default)] partner: Option<String>,
    input: TermsInput,
) -> Result<CommissionTerms, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let spec = spec_of(&input)?;
        let partner = partner_of(&partner);
        let who = ctx::actor(&state, &ctx).await;
        backend::service::commissions::set_terms(&state, &ctx.org, partner, spec, &who).await?;
        backend::service::commissions::terms_page(&state, &ctx.org, partner).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "remove_partner_terms")]
pub async fn remove_partner_terms(partner: String) -> Result<CommissionTerms, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::commissions::remove_partner_terms(&state, &ctx.org, &partner, &who)
            .await?;
        backend::service::commissions::terms_page(&state, &ctx.org, Some(&partner)).await
    })
    .await
}

/// What the form's terms would have paid from `from` to `to` (dates, `to` included).
#[server(prefix = "/rpc", endpoint = "preview_terms")]
pub async fn preview_terms(
    #[server(default)] partner: Option<String>,
    input: TermsInput,
    from: String,
    to: String,
) -> Result<TermsPreview, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let spec = spec_of(&input)?;
        use backend::service::terms_form::date_ms;
        let from = date_ms("from", &from)?;
        let to = date_ms("to", &to)?.saturating_add(86_400_000);
        backend::service::commissions::preview(
            &state,
            &ctx.org,
            partner_of(&partner),
            &spec,
            from,
            to,
        )
        .await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "set_reporting_currency")]
pub async fn set_reporting_currency(currency: String) -> Result<String, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::commissions::set_reporting_currency(&state, &ctx.org, &currency, &who)
            .await
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerDetail {
    pub partner: Partner,
    pub balance: PartnerBalance,
    pub terms: CommissionTerms,
    /// Whether the partner has its own terms (else the organization's default applies).
    pub has_override: bool,
    pub default_terms: Option<String>,
    /// The server's time.
    pub now: i64,
}

#[server(prefix = "/rpc", endpoint = "partner")]
pub async fn get_partner(key: String) -> Result<PartnerDetail, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        use backend::service::commissions as c;
        if backend::domain::identifier_problem(&key).is_some() {
            return Err(AppError::NotFound);
        }
        let partner = state
            .store
            .partner(&ctx.org, &key)
            .await?
            .ok_or(AppError::NotFound)?;
        let terms = c::terms_page(&state, &ctx.org, Some(&key)).await?;
        Ok(PartnerDetail {
            balance: c::balance(&state, &ctx.org, &key).await?,
            has_override: terms.description.is_some(),
            default_terms: c::terms_page(&state, &ctx.org, None).await?.description,
            now: state.now(),
            terms,
            partner,
        })
    })
    .await
}

pub const ENTRY_PAGE: i64 = 25;

#[server(prefix = "/rpc", endpoint = "commission_entries")]
pub async fn list_commission_entries(
    #[server(default)] partner: Option<String>,
    #[server(default)] customer: Option<String>,
    #[server(default)] status: Option<String>,
    #[server(default)] cursor: Option<String>,
) -> Result<Page<CommissionEntry>, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let some = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        backend::service::commissions::entries(
            &state,
            &ctx.org,
            some(&partner).as_deref(),
            some(&customer).as_deref(),
            some(&status).as_deref(),
            some(&cursor).as_deref(),
            ENTRY_PAGE,
        )
        .await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "payouts")]
pub async fn list_payouts() -> Result<Vec<PayoutRun>, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        backend::service::commissions::payouts(&state, &ctx.org).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "payout")]
pub async fn get_payout(id: String) -> Result<PayoutRun, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        backend::service::commissions::payout(&state, &ctx.org, &id).await
    })
    .await
}

/// A run of everything approved up to the end of `up_to` (a date; empty: now).
#[server(prefix = "/rpc", endpoint = "create_payout")]
pub async fn create_payout(up_to: String) -> Result<PayoutRun, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let up_to = match up_to.trim() {
            "" => state.now(),
            day => backend::service::terms_form::date_ms("up_to", day)?.saturating_add(86_399_999),
        };
        let who = ctx::actor(&state, &ctx).await;
        let run =
            backend::service::commissions::create_payout(&state, &ctx.org, up_to, &who).await?;
        leptos_axum::redirect(&format!("/payouts/{}", run.id));
        Ok(run)
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "mark_payout_paid")]
pub async fn mark_payout_paid(id: String, reference: String) -> Result<PayoutRun, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::commissions::mark_paid(&state, &ctx.org, &id, &reference, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "cancel_payout")]
pub async fn cancel_payout(id: String) -> Result<PayoutRun, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::commissions::cancel_payout(&state, &ctx.org, &id, &who).await
    })
    .await
}

/// (days webhook payloads are kept, days an unmatched event waits for its customer).
#[server(prefix = "/rpc", endpoint = "retention")]
pub async fn get_retention() -> Result<(i64, i64), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let s = backend::service::settings::get(&state, &ctx.org).await?;
        Ok((s.payload_retention_days, s.attribution_window_days))
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "set_attribution_window")]
pub async fn set_attribution_window(days: String) -> Result<i64, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let days: i64 = days.trim().parse().map_err(|_| {
            AppError::field("attribution_window_days", "give a whole number of days")
        })?;
        let who = ctx::actor(&state, &ctx).await;
        Ok(
            backend::service::settings::set_attribution_window(&state, &ctx.org, days, &who)
                .await?
                .attribution_window_days,
        )
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "set_retention")]
pub async fn set_retention(days: String) -> Result<i64, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let days: i64 = days.trim().parse().map_err(|_| {
            AppError::field("payload_retention_days", "give a whole number of days")
        })?;
        let who = ctx::actor(&state, &ctx).await;
        Ok(
            backend::service::settings::set_retention(&state, &ctx.org, days, &who)
                .await?
                .payload_retention_days,
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

/// The audit log, newest first (owners and admins): filtered by action prefix and actor.
#[server(prefix = "/rpc", endpoint = "audit_log")]
pub async fn list_audit(
    #[server(default)] action: Option<String>,
    #[server(default)] actor: Option<String>,
    #[server(default)] cursor: Option<String>,
) -> Result<Page<AuditEntry>, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let filter = backend::storage::AuditFilter {
            action,
            actor,
            ..Default::default()
        };
        backend::audit::list(
            &state,
            &ctx.org,
            filter,
            cursor.as_deref().filter(|c| !c.is_empty()),
            50,
        )
        .await
    })
    .await
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
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let filter = backend::storage::EventFilter {
            outcome: outcome.and_then(|o| o.parse().ok()),
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
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "event")]
pub async fn get_event(id: String) -> Result<EventDetail, AppError> {
    ctx::answer(async {
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
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayResult {
    pub outcome: String,
    pub detail: Option<String>,
    pub released: usize,
}

#[server(prefix = "/rpc", endpoint = "replay_event")]
pub async fn replay_event(id: String) -> Result<ReplayResult, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        let o = backend::ingest::replay(&state, &ctx.org, &id, &who).await?;
        Ok(ReplayResult {
            outcome: o.outcome.to_string(),
            detail: o.detail,
            released: o.released,
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub since: i64,
    pub revenue: Vec<RevenuePoint>,
    pub converted: Option<ConvertedTotal>,
    pub top_partners: Vec<Partner>,
    pub needs_action: Vec<EventSummary>,
    pub unmatched: i64,
    pub failed: i64,
    pub rejected: i64,
    pub not_attributed_this_month: i64,
    pub waiting_this_month: i64,
    pub attribution_window_days: i64,
    pub health: IntegrationHealth,
}

#[cfg(feature = "ssr")]
impl From<backend::service::overview::Overview> for Overview {
    fn from(o: backend::service::overview::Overview) -> Self {
        Self {
            since: o.since,
            revenue: o.revenue,
            converted: o.converted,
            top_partners: o.top_partners,
            needs_action: o.needs_action,
            unmatched: o.unmatched,
            failed: o.failed,
            rejected: o.rejected,
            not_attributed_this_month: o.not_attributed_this_month,
            waiting_this_month: o.waiting_this_month,
            attribution_window_days: o.attribution_window_days,
            health: o.health,
        }
    }
}

#[server(prefix = "/rpc", endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::user().await?;
        let overview = backend::service::overview::overview(&state, &ctx.org).await?;
        Ok(overview.into())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// API reference
// ---------------------------------------------------------------------------------------------

/// The REST API's reference (its OpenAPI document, for people), for any signed-in member.
#[server(prefix = "/rpc", endpoint = "api_reference")]
pub async fn api_reference() -> Result<crate::pages::api_reference::ApiReference, AppError> {
    // Read before the first await, like the state.
    let doc = use_context::<crate::pages::api_reference::ApiDocument>();
    ctx::answer(async move {
        ctx::user().await?;
        let doc = doc.ok_or_else(|| {
            tracing::error!("the OpenAPI document is not in the pages' context");
            AppError::Internal
        })?;
        Ok(crate::pages::api_reference::reference(&doc.0))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Partner users (admins) and the partner portal (partner users)
// ---------------------------------------------------------------------------------------------

/// A partner's portal users and pending invites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerAccessView {
    pub users: Vec<PartnerUser>,
    pub invites: Vec<PartnerInvite>,
}

#[server(prefix = "/rpc", endpoint = "partner_access")]
pub async fn partner_access(key: String) -> Result<PartnerAccessView, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let (users, invites) = backend::service::portal::users(&state, &ctx.org, &key).await?;
        Ok(PartnerAccessView { users, invites })
    })
    .await
}

/// Invites a partner contact to the portal; returns the one-time link.
#[server(prefix = "/rpc", endpoint = "invite_partner_user")]
pub async fn invite_partner_user(key: String, email: String) -> Result<String, AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::portal::invite(&state, &ctx.org, &key, &email, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "remove_partner_user")]
pub async fn remove_partner_user(key: String, user_id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::portal::remove_user(&state, &ctx.org, &key, &user_id, &who).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "revoke_partner_invite")]
pub async fn revoke_partner_invite(key: String, id: String) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, ctx) = ctx::writer().await?;
        let who = ctx::actor(&state, &ctx).await;
        backend::service::portal::revoke_invite(&state, &ctx.org, &key, &id, &who).await
    })
    .await
}

/// The signed-in partner user, their partner and their memberships (the portal's shell).
#[server(prefix = "/rpc", endpoint = "portal_me")]
pub async fn portal_me() -> Result<PartnerMe, AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        let choices = backend::session::memberships(&state, &p.user).await?;
        let partner = state
            .store
            .partner(&p.org, &p.partner_key)
            .await?
            .ok_or(AppError::NotFound)?;
        let org_name = choices
            .iter()
            .find(|c| c.id == p.org.as_str())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        Ok(PartnerMe {
            email: p.email.clone(),
            org_name,
            partner_key: partner.key,
            partner_name: partner.name,
            partner_email: partner.email,
            current: format!("{}/{}", p.org, p.partner_id),
            choices,
        })
    })
    .await
}

/// The portal's home page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalHomeView {
    pub balance: PartnerBalance,
    pub next_payout: Vec<CurrencyTotal>,
    pub next_payable_at: Option<i64>,
    pub months: Vec<PortalMonth>,
}

#[server(prefix = "/rpc", endpoint = "portal_home")]
pub async fn portal_home() -> Result<PortalHomeView, AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        let h = backend::service::portal::home(&state, &p).await?;
        Ok(PortalHomeView {
            balance: h.balance,
            next_payout: h.next_payout,
            next_payable_at: h.next_payable_at,
            months: h.months,
        })
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "portal_customers")]
pub async fn portal_customers(
    #[server(default)] q: Option<String>,
    #[server(default)] after: Option<String>,
) -> Result<Page<PortalCustomer>, AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        let q = q.filter(|s| !s.is_empty());
        let after = after.filter(|s| !s.is_empty());
        backend::service::portal::customers(&state, &p, q.as_deref(), after.as_deref()).await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "portal_commissions")]
pub async fn portal_commissions(
    #[server(default)] status: Option<String>,
    #[server(default)] customer: Option<String>,
    #[server(default)] after: Option<String>,
) -> Result<Page<CommissionEntry>, AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        let keep = |s: Option<String>| s.filter(|s| !s.is_empty());
        let (status, customer, after) = (keep(status), keep(customer), keep(after));
        backend::service::portal::entries(
            &state,
            &p,
            status.as_deref(),
            customer.as_deref(),
            after.as_deref(),
        )
        .await
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "portal_statements")]
pub async fn portal_statements() -> Result<Vec<PortalStatement>, AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        backend::service::portal::statements(&state, &p).await
    })
    .await
}

/// The partner's own name and payout e-mail, changed by a partner user.
#[server(prefix = "/rpc", endpoint = "portal_profile")]
pub async fn portal_profile(
    #[server(default)] name: String,
    #[server(default)] email: String,
) -> Result<(), AppError> {
    ctx::answer(async {
        let (state, p) = ctx::partner().await?;
        let ip = ctx::client_ip(&state).await;
        let who = backend::audit::Actor::user(p.user.as_str(), &p.email, &ip);
        let opt = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string);
        let (name, email) = (opt(&name), opt(&email));
        backend::service::portal::update_profile(
            &state,
            &p,
            name.as_deref(),
            email.as_deref(),
            &who,
        )
        .await?;
        Ok(())
    })
    .await
}

//! Building blocks shared by the pages: the signed-in shell, errors, money, copy field.

use crate::api::{Logout, SwitchOrg};
use crate::error::AppError;
use crate::model::{format_count, format_money, format_time, IntegrationHealth, Me, OrgChoice};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::use_location;

/// The signed-in user, provided by the protected layout.
pub fn use_me() -> Option<Me> {
    use_context::<Me>()
}

/// Whether the signed-in user may change things (admins and owners).
pub fn can_write() -> bool {
    use_me().is_some_and(|m| m.role.can_write())
}

/// A sidebar link, marked as the current page when the path is `href` or below it (`root`,
/// the area's home, only when exactly it).
pub fn nav_link(href: &'static str, label: &'static str, root: &'static str) -> impl IntoView {
    let location = use_location();
    let current = move || {
        let path = location.pathname.get();
        if href == root {
            path == root
        } else {
            path.starts_with(href)
        }
    };
    view! {
        <li>
            <A href=href attr:class=move || if current() { "nav-link active" } else { "nav-link" }
                attr:aria-current=move || current().then_some("page")>{label}</A>
        </li>
    }
}

/// The top bar's switcher between the account's memberships (team and partner portal);
/// `current` is the [`OrgChoice::value`] of the one the session is in.
#[component]
pub fn MembershipSwitcher(choices: Vec<OrgChoice>, current: String) -> impl IntoView {
    let switch = ServerAction::<SwitchOrg>::new();
    view! {
        <ActionForm action=switch attr:class="org-switch">
            <label for="org-select" class="visually-hidden">"Organization"</label>
            <select id="org-select" name="org_id" aria-label="Organization">
                {choices.into_iter().map(|o| {
                    let value = o.value();
                    let selected = value == current;
                    view! { <option value=value selected=selected>{o.label()}</option> }
                }).collect_view()}
            </select>
            <button type="submit" class="button small secondary">"Switch"</button>
        </ActionForm>
    }
}

#[component]
pub fn Shell(me: Me) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let link = |href, label| nav_link(href, label, "/");
    view! {
        <a class="skip-link" href="#content">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">"Partner Ledger"</a>
            <div class="topbar-right">
                <MembershipSwitcher choices=me.orgs.clone() current=me.org_id.clone()/>
                <span class="who" title=format!("Role: {}", me.role)>
                    {me.email.clone()} <span class="badge">{me.role.to_string()}</span>
                </span>
                <ActionForm action=logout attr:class="inline">
                    <button type="submit" class="button small secondary" id="logout">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
        <div class="layout">
            <nav class="sidebar" aria-label="Main">
                <ul>
                    {link("/", "Overview")}
                    {link("/customers", "Customers")}
                    {link("/partners", "Partners")}
                    {link("/payouts", "Payouts")}
                    {link("/plans", "Plans")}
                    {link("/events", "Events")}
                </ul>
                <p class="nav-heading">"Settings"</p>
                <ul>
                    {link("/settings/integrations/webhooks", "Integrations › Webhooks")}
                    {link("/settings/commissions", "Commissions")}
                    {link("/settings/team", "Team")}
                    {link("/settings/api-keys", "API keys")}
                    {link("/settings/account", "Account")}
                    {me.role.can_write().then(|| link("/settings/audit-log", "Audit log"))}
                </ul>
            </nav>
            <main id="content" class="content" tabindex="-1">
                <Outlet/>
            </main>
        </div>
    }
}

/// A general error message (for errors not tied to one field).
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let text = match &error {
        AppError::Validation(_) => None,
        other => Some(other.to_string()),
    };
    text.map(|t| view! { <p class="error" role="alert">{t}</p> })
}

/// The last result of an action, shown as an error box when it failed.
#[component]
pub fn ActionError<T, V>(value: V) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(e)) => Some(view! { <ErrorBox error=e/> }),
        _ => None,
    }
}

/// The validation message for one field of an action's last result.
#[component]
pub fn FieldError<T, V>(value: V, field: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || {
        value
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.field_message(field))
            .map(|m| view! { <span class="field-error" role="alert" id=format!("{field}-error")>{m}</span> })
    }
}

/// Shows an error from loading a page's data, or a sign-in link when the session ended.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorized => view! {
            <p class="error" role="alert">"Your session ended. " <a href="/login">"Sign in again"</a></p>
        }
        .into_any(),
        AppError::NotFound => view! { <p class="empty">"Not found. It may have been deleted, or it belongs to another organization."</p> }.into_any(),
        other => view! { <ErrorBox error=other/> }.into_any(),
    }
}

pub fn money(amount: impl Into<i128>, currency: &str) -> String {
    format_money(amount, currency)
}

pub fn time(ms: i64) -> String {
    format_time(ms)
}

pub fn loading() -> impl IntoView {
    view! { <p class="loading" aria-live="polite">"Loading…"</p> }
}

/// A read-only field with a Copy button (Clipboard API, with a selection fallback).
#[component]
pub fn CopyField(value: String, label: &'static str, id: &'static str) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let input = NodeRef::<leptos::html::Input>::new();
    let text = value.clone();
    let on_copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            copy_to_clipboard(text.clone(), input, copied);
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (&text, input);
        }
    };
    view! {
        <div class="copy-field">
            <label for=id>{label}</label>
            <div class="copy-row">
                <input id=id type="text" readonly value=value node_ref=input on:focus=move |ev| {
                    #[cfg(feature = "hydrate")]
                    {
                        use wasm_bindgen::JsCast;
                        if let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            el.select();
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }/>
                <button type="button" class="button" id=format!("{id}-copy") on:click=on_copy>"Copy"</button>
            </div>
            <span class="copy-status" role="status" aria-live="polite">
                {move || match copied.get() {
                    Some(true) => "Copied",
                    Some(false) => "Press Ctrl+C (⌘C) to copy the selected URL",
                    None => "",
                }}
            </span>
        </div>
    }
}

#[cfg(feature = "hydrate")]
fn copy_to_clipboard(
    text: String,
    input: NodeRef<leptos::html::Input>,
    copied: RwSignal<Option<bool>>,
) {
    let fallback = move || {
        use wasm_bindgen::JsCast;
        if let Some(el) = input.get_untracked() {
            el.select();
        }
        let ok = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
            .and_then(|d| d.exec_command("copy").ok())
            .unwrap_or(false);
        copied.set(Some(ok));
    };
    let Some(window) = web_sys::window() else {
        return fallback();
    };
    let promise = window.navigator().clipboard().write_text(&text);
    wasm_bindgen_futures::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(_) => copied.set(Some(true)),
            Err(_) => fallback(),
        }
    });
}

/// A destructive button that asks for confirmation in place before it submits.
#[component]
pub fn ConfirmButton(
    /// What the first click shows.
    label: String,
    /// The question asked before acting.
    question: String,
    /// The confirming button's label.
    confirm: String,
    #[prop(into)] on_confirm: Callback<()>,
    #[prop(optional)] id: Option<String>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    view! {
        <span class="confirm">
            <Show when=move || asking.get() fallback=move || view! {
                <button type="button" class="button small danger" id=id.clone() on:click=move |_| asking.set(true)>{label.clone()}</button>
            }>
                <span class="confirm-question" role="alertdialog" aria-label=question.clone()>
                    {question.clone()}
                    " "
                    <button type="button" class="button small danger confirm-yes" on:click=move |_| { asking.set(false); on_confirm.run(()); }>{confirm.clone()}</button>
                    " "
                    <button type="button" class="button small secondary" on:click=move |_| asking.set(false)>"Cancel"</button>
                </span>
            </Show>
        </span>
    }
}

/// Integration health: alerts while their cause lasts, the latest delivery, and deliveries
/// per outcome over 24 hours and 7 days. On the Chargebee page and the Overview.
#[component]
pub fn HealthPanel(
    health: IntegrationHealth,
    heading: &'static str,
    /// A link to the page with the integration's settings (on the Overview).
    #[prop(optional)]
    settings_href: Option<&'static str>,
) -> impl IntoView {
    let IntegrationHealth {
        last_delivery_at,
        counts_24h,
        counts_7d,
        alerts,
    } = health;
    // Every outcome seen in 7 days, with its 24-hour count beside.
    let rows: Vec<(String, i64, i64)> = counts_7d
        .iter()
        .map(|(o, week)| {
            let day = counts_24h
                .iter()
                .find(|(k, _)| k == o)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (o.clone(), day, *week)
        })
        .collect();
    let healthy = alerts.is_empty();
    view! {
        <section class="card" id="integration-health" aria-labelledby="integration-health-title">
            <h2 id="integration-health-title">{heading}</h2>
            {alerts.into_iter().map(|a| {
                let seen = if a.kind == "quiet" {
                    format!("Last delivery {}.", format_time(a.last_seen_at))
                } else {
                    format!(
                        "Last seen {}; {} deliver{} in the last 7 days.",
                        format_time(a.last_seen_at),
                        format_count(a.count_7d),
                        if a.count_7d == 1 { "y" } else { "ies" },
                    )
                };
                view! {
                    <div class="alert" data-alert=a.kind.clone() id=format!("alert-{}", a.kind)>
                        <p><strong>{a.title}</strong></p>
                        <p>{a.advice}</p>
                        <p class="small">{seen}</p>
                    </div>
                }
            }).collect_view()}
            <p id="last-delivery">{match last_delivery_at {
                Some(t) if healthy => format!("No problems found. Last delivery {}.", format_time(t)),
                Some(t) => format!("Last delivery {}.", format_time(t)),
                None => "No deliveries yet. Once Chargebee sends events to the webhook URL, they show here.".to_string(),
            }}</p>
            {(!rows.is_empty()).then(|| view! {
                <div class="table-wrap" tabindex="0"><table class="table" id="delivery-counts">
                    <caption class="visually-hidden">"Deliveries by outcome"</caption>
                    <thead><tr><th scope="col">"Outcome"</th><th scope="col" class="num">"Last 24 hours"</th><th scope="col" class="num">"Last 7 days"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(o, day, week)| view! {
                            <tr>
                                <th scope="row"><a class=format!("badge outcome-{o}") href=format!("/events?outcome={o}")>{o.clone()}</a></th>
                                <td class="num">{format_count(day)}</td>
                                <td class="num">{format_count(week)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            })}
            {settings_href.map(|href| view! { <p><a href=href>"Chargebee settings and setup"</a></p> })}
        </section>
    }
}

//! Partner Ledger: the Leptos application (pages, components and thin server functions).
//!
//! Compiled twice: with `ssr` for the server (the server functions then call into the
//! `backend` crate) and with `hydrate` for the browser bundle. The data shapes both sides
//! exchange are in the `shared` crate, re-exported here as [`model`] and [`error`].
#![recursion_limit = "512"]

pub mod api;
pub mod components;
pub mod pages;

pub use shared::{error, model};

use components::{LoadError, Shell};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, SsrMode};
use pages::*;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/partner-ledger.css"/>
        <Link rel="icon" href="data:,"/>
        <Meta name="description" content="Partner Ledger: credit partners for the revenue they bring"/>
        <Title text="Partner Ledger"/>
        <Router>
            <Routes fallback=|| view! { <div class="auth-page"><main class="auth-card"><h1>"Page not found"</h1><p><a href="/">"Go to the dashboard"</a></p></main></div> }>
                <Route path=path!("/login") view=auth::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/signup") view=auth::SignupPage ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view=auth::InvitePage ssr=SsrMode::Async/>
                <ParentRoute path=path!("/partner") view=portal::PortalLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=portal::PortalHomePage ssr=SsrMode::Async/>
                    <Route path=path!("/customers") view=portal::PortalCustomersPage ssr=SsrMode::Async/>
                    <Route path=path!("/commissions") view=portal::PortalCommissionsPage ssr=SsrMode::Async/>
                    <Route path=path!("/payouts") view=portal::PortalPayoutsPage ssr=SsrMode::Async/>
                    <Route path=path!("/profile") view=portal::PortalProfilePage ssr=SsrMode::Async/>
                </ParentRoute>
                <ParentRoute path=path!("") view=Protected ssr=SsrMode::Async>
                    <Route path=path!("/") view=overview::OverviewPage ssr=SsrMode::Async/>
                    <Route path=path!("/customers") view=customers::CustomersPage ssr=SsrMode::Async/>
                    <Route path=path!("/customers/:key") view=customers::CustomerPage ssr=SsrMode::Async/>
                    <Route path=path!("/partners") view=partners::PartnersPage ssr=SsrMode::Async/>
                    <Route path=path!("/partners/:key") view=partner::PartnerPage ssr=SsrMode::Async/>
                    <Route path=path!("/payouts") view=payouts::PayoutsPage ssr=SsrMode::Async/>
                    <Route path=path!("/payouts/:id") view=payouts::PayoutPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/commissions") view=commissions::CommissionSettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/audit-log") view=audit::AuditLogPage ssr=SsrMode::Async/>
                    <Route path=path!("/plans") view=plans::PlansPage ssr=SsrMode::Async/>
                    <Route path=path!("/events") view=events::EventsPage ssr=SsrMode::Async/>
                    <Route path=path!("/events/:id") view=events::EventPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/integrations/webhooks") view=integrations::WebhooksPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/integrations/webhooks/chargebee") view=integrations::ChargebeePage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/team") view=settings::TeamPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys") view=settings::ApiKeysPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/reference") view=api_reference::ApiReferencePage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/account") view=settings::AccountPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The signed-in area: loads the user, sends visitors to sign in, wraps pages in the shell.
#[component]
fn Protected() -> impl IntoView {
    let me = Resource::new(|| (), |_| api::get_me());
    view! {
        <Suspense fallback=components::loading>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => {
                        provide_context(me.clone());
                        view! { <Shell me/> }.into_any()
                    }
                    Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <main class="content"><LoadError error=e/></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // Lets browser tests wait for hydration instead of sleeping.
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

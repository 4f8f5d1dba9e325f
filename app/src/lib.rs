//! Partner Ledger: the Leptos application (pages, components, server functions).
//!
//! Compiled twice: with `ssr` for the server (which also pulls in the backend: storage,
//! the pure Chargebee-to-ledger logic and the services that glue them) and with `hydrate`
//! for the browser bundle.
#![recursion_limit = "256"]

pub mod error;
pub mod model;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
};

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
        <Title text="Partner Ledger"/>
        <Router>
            <main>
                <Routes fallback=|| "Page not found.".into_view()>
                    <Route path=StaticSegment("") view=HomePage/>
                </Routes>
            </main>
        </Router>
    }
}

#[server]
pub async fn server_time() -> Result<String, ServerFnError> {
    Ok(format!("{:?}", std::time::SystemTime::now()))
}

#[component]
fn HomePage() -> impl IntoView {
    let count = RwSignal::new(0);
    let ping = ServerAction::<ServerTime>::new();
    view! {
        <h1>"Partner Ledger"</h1>
        <button id="counter" on:click=move |_| *count.write() += 1>"Clicked " {count} " times"</button>
        <button id="ping" on:click=move |_| { ping.dispatch(ServerTime {}); }>"Ping server"</button>
        <p id="ping-result">{move || ping.value().get().map(|r| r.unwrap_or_else(|e| e.to_string()))}</p>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}

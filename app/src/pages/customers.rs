//! Customers: search, keyset pagination, and each customer's ledger.

use crate::api::{get_customer, list_customers, CreateCustomer};
use crate::components::{can_write, loading, money, time, ActionError, FieldError, LoadError};
use crate::model::format_date;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

fn query_url(search: &str, cursor: Option<&str>) -> String {
    let mut parts = vec![];
    if !search.is_empty() {
        parts.push(format!("q={}", urlencode(search)));
    }
    if let Some(c) = cursor {
        parts.push(format!("after={}", urlencode(c)));
    }
    if parts.is_empty() {
        "/customers".into()
    } else {
        format!("/customers?{}", parts.join("&"))
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let after = move || query.read().get("after");
    let create = ServerAction::<CreateCustomer>::new();
    let data = Resource::new(
        move || (search(), after(), create.version().get()),
        |(s, a, _)| list_customers(Some(s), a),
    );
    let value = create.value();
    let writer = can_write();
    let adding = RwSignal::new(false);
    view! {
        <h1>"Customers"</h1>
        <div class="toolbar">
            <form method="get" action="/customers" class="search" role="search">
                <label for="customer-search" class="visually-hidden">"Search customers"</label>
                <input id="customer-search" type="search" name="q" placeholder="Search by key, email or name" value=search/>
                <button type="submit" class="button secondary">"Search"</button>
            </form>
            {writer.then(|| view! {
                <button type="button" class="button" on:click=move |_| adding.update(|a| *a = !*a) aria-expanded=move || adding.get().to_string()>"Add customer"</button>
            })}
        </div>
        <Show when=move || adding.get()>
            <section class="card">
                <h2>"Add a customer"</h2>
                <ActionForm action=create attr:class="form inline-form">
                    <label for="c-key">"Key"</label><input id="c-key" name="key" required/>
                    <FieldError value field="key"/>
                    <label for="c-email">"Email"</label><input id="c-email" name="email" type="email"/>
                    <FieldError value field="email"/>
                    <label for="c-name">"Name"</label><input id="c-name" name="name"/>
                    <label for="c-partner">"Partner key"</label><input id="c-partner" name="partner_key"/>
                    <FieldError value field="partner_key"/>
                    <ActionError value/>
                    <button type="submit" class="button primary">"Add customer"</button>
                </ActionForm>
            </section>
        </Show>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => {
                        let s = search();
                        if s.is_empty() && after().is_none() {
                            view! { <p class="empty">"No customers yet. They appear when Chargebee sends events with a customer_key, or when you add them (here or with the API)."</p> }.into_any()
                        } else {
                            view! { <p class="empty">"No customers match “" {s} "”. " <a href="/customers">"Show all"</a></p> }.into_any()
                        }
                    }
                    Ok(page) => {
                        let s = search();
                        let next = page.next_cursor.clone().map(|c| query_url(&s, Some(&c)));
                        let first = after().is_some().then(|| query_url(&s, None));
                        view! {
                            <div class="table-wrap" tabindex="0">
                            <table class="table" id="customers-table">
                                <thead><tr>
                                    <th scope="col">"Key"</th><th scope="col">"Email"</th><th scope="col">"Partner"</th>
                                    <th scope="col" class="num">"Net revenue"</th><th scope="col" class="num">"Active subscriptions"</th>
                                </tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|c| view! {
                                        <tr>
                                            <td><a href=format!("/customers/{}", urlencode(&c.key))>{c.key.clone()}</a></td>
                                            <td>{c.email.clone().unwrap_or_default()}</td>
                                            <td>{c.partner_key.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td class="num">{crate::model::format_totals(&c.revenue)}</td>
                                            <td class="num">{c.active_subscriptions}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <nav class="pager" aria-label="Pages">
                                {first.map(|href| view! { <a class="button secondary" href=href>"← First page"</a> })}
                                {next.map(|href| view! { <a class="button secondary" href=href id="next-page">"Next page →"</a> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let data = Resource::new(key, get_customer);
    view! {
        <p class="breadcrumb"><a href="/customers">"Customers"</a></p>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(d) => {
                        let c = d.customer.clone();
                        view! {
                            <h1>{c.name.clone().unwrap_or(c.key.clone())}</h1>
                            <dl class="facts">
                                <dt>"Key"</dt><dd><code>{c.key.clone()}</code></dd>
                                <dt>"Email"</dt><dd>{c.email.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Partner"</dt><dd id="customer-partner">{match (c.partner_key.clone(), c.partner_name.clone()) {
                                    (Some(k), n) => {
                                        let href = format!("/partners/{}", urlencode(&k));
                                        let label = match n { Some(n) => format!("{n} ({k})"), None => k };
                                        view! { <a href=href>{label}</a> }.into_any()
                                    }
                                    _ => "Not attributed to a partner".into_any(),
                                }}</dd>
                                <dt>"Chargebee customer"</dt><dd>{c.chargebee_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Created"</dt><dd>{time(c.created_at)}</dd>
                            </dl>
                            <section class="card">
                                <h2>"Transactions"</h2>
                                <div class="toolbar">
                                    <a class="button secondary small" id="transactions-csv" href=format!("/exports/transactions.csv?customer={}", urlencode(&c.key)) download>"Export transactions (CSV)"</a>
                                    <a class="button secondary small" id="commissions-csv" href=format!("/exports/commissions.csv?customer={}", urlencode(&c.key)) download>"Export commissions (CSV)"</a>
                                </div>
                                {if d.transactions.is_empty() {
                                    view! { <p class="empty">"No transactions yet. They are recorded when Chargebee sends payment_succeeded for this customer."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap" tabindex="0"><table class="table" id="transactions-table">
                                            <thead><tr><th scope="col">"Date"</th><th scope="col">"Chargebee id"</th><th scope="col" class="num">"Amount"</th>
                                                <th scope="col" class="num">"Refunded"</th><th scope="col" class="num">"Net"</th><th scope="col" class="num">"Commission"</th><th scope="col">"Status"</th></tr></thead>
                                            <tbody>
                                                {d.transactions.into_iter().map(|t| {
                                                    let removed = t.removed_reason.clone();
                                                    let is_removed = removed.is_some();
                                                    view! {
                                                        <tr class:removed=is_removed>
                                                            <td>{format_date(t.occurred_at)}</td>
                                                            <td><code>{t.chargebee_id.clone()}</code></td>
                                                            <td class="num">{money(t.amount, &t.currency)}</td>
                                                            <td class="num">{money(t.amount_refunded, &t.currency)}</td>
                                                            <td class="num">{money(t.net_amount(), &t.currency)}</td>
                                                            <td class="num">{match t.commission { Some(c) => money(c, &t.currency), None => "—".into() }}</td>
                                                            <td>{match removed {
                                                                Some(r) => format!("removed ({r})"),
                                                                None if t.amount_refunded > 0 => "partially refunded".into(),
                                                                None => "recorded".into(),
                                                            }}</td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            <section class="card">
                                <h2>"Subscriptions"</h2>
                                {if d.subscriptions.is_empty() {
                                    view! { <p class="empty">"No subscriptions."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap" tabindex="0"><table class="table" id="subscriptions-table">
                                            <thead><tr><th scope="col">"Subscription"</th><th scope="col">"Plan"</th><th scope="col">"Status"</th><th scope="col" class="num">"MRR"</th><th scope="col">"Current term"</th></tr></thead>
                                            <tbody>
                                                {d.subscriptions.into_iter().map(|s| view! {
                                                    <tr>
                                                        <td><code>{s.chargebee_id.clone()}</code></td>
                                                        <td>{s.plan_name.clone().or(s.plan_key.clone()).unwrap_or_else(|| "—".into())}</td>
                                                        <td>{s.status.clone()}</td>
                                                        <td class="num">{match (s.mrr, s.currency.as_deref()) { (Some(m), Some(c)) => money(m, c), _ => "—".into() }}</td>
                                                        <td>{match (s.current_term_start, s.current_term_end) {
                                                            (Some(a), Some(b)) => format!("{} – {}", format_date(a), format_date(b)),
                                                            _ => "—".into(),
                                                        }}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            <section class="card">
                                <h2>"Webhook events about this customer"</h2>
                                {if d.events.is_empty() {
                                    view! { <p class="empty">"No webhook events yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="list" id="customer-events">
                                            {d.events.into_iter().map(|e| view! {
                                                <li>
                                                    <a href=format!("/events/{}", e.id)>{e.event_type.clone().unwrap_or_default()}</a>
                                                    " "<span class=format!("badge outcome-{}", e.outcome)>{e.outcome.to_string()}</span>
                                                    " "<span class="muted">{time(e.received_at)}</span>
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

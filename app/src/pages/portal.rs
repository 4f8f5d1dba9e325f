//! The partner portal (`/partner…`): what a partner user sees of their partner, and nothing
//! else. The same sign-in, components and stylesheet as the dashboard; its own shell.

use crate::api::{
    portal_commissions, portal_customers, portal_home, portal_me, portal_statements,
    ChangePassword, Logout, PortalProfile,
};
use crate::components::{
    loading, money, nav_link, time, ActionError, FieldError, LoadError, MembershipSwitcher,
};
use crate::error::AppError;
use crate::model::{format_date, format_totals, PartnerMe, PortalMonth};
use crate::pages::customers::urlencode;
use crate::pages::partner::BalanceTable;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::use_query_map;

/// The portal's layout: loads the partner user, sends visitors to sign in and team members to
/// their dashboard, and wraps the portal's pages in its shell.
#[component]
pub fn PortalLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| portal_me());
    view! {
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => {
                        provide_context(me.clone());
                        view! { <PortalShell me/> }.into_any()
                    }
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/partner"/> }.into_any(),
                    Err(AppError::Forbidden(_)) => view! { <Redirect path="/"/> }.into_any(),
                    Err(e) => view! { <main class="content"><LoadError error=e/></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PortalShell(me: PartnerMe) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let link = |href, label| nav_link(href, label, "/partner");
    let partner_name = me
        .partner_name
        .clone()
        .unwrap_or_else(|| me.partner_key.clone());
    let choices = me.choices.clone();
    let current = me.current.clone();
    view! {
        <a class="skip-link" href="#content">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/partner">"Partner Ledger"<span class="visually-hidden">" partner portal"</span></a>
            <div class="topbar-right">
                {(choices.len() > 1).then(|| view! { <MembershipSwitcher choices current/> })}
                <span class="who">{me.email.clone()} <span class="badge">"partner"</span></span>
                <ActionForm action=logout attr:class="inline">
                    <button type="submit" class="button small secondary" id="logout">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
        <div class="layout">
            <nav class="sidebar" aria-label="Partner portal">
                <p class="nav-heading">{format!("{} · {}", partner_name, me.org_name)}</p>
                <ul>
                    {link("/partner", "Earnings")}
                    {link("/partner/customers", "Customers")}
                    {link("/partner/commissions", "Commissions")}
                    {link("/partner/payouts", "Payouts")}
                    {link("/partner/profile", "Profile")}
                </ul>
            </nav>
            <main id="content" class="content" tabindex="-1">
                <Outlet/>
            </main>
        </div>
    }
}

/// One currency's months as bars (the largest figure is the full width) and as numbers.
fn month_rows(months: Vec<PortalMonth>) -> impl IntoView {
    let top = months
        .iter()
        .map(|m| m.revenue.max(m.earnings).max(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let pct = move |v: i128| (v.max(0) * 100 / top).to_string();
    months
        .into_iter()
        .map(|m| {
            let (r, e) = (pct(m.revenue), pct(m.earnings));
            view! {
                <tr>
                    <th scope="row">{m.month.clone()}</th>
                    <td class="num">
                        {money(m.revenue, &m.currency)}
                        <span class="bar revenue" style=format!("width: {r}%") aria-hidden="true"></span>
                    </td>
                    <td class="num">
                        {money(m.earnings, &m.currency)}
                        <span class="bar earnings" style=format!("width: {e}%") aria-hidden="true"></span>
                    </td>
                </tr>
            }
        })
        .collect_view()
}

#[component]
pub fn PortalHomePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| portal_home());
    view! {
        <h1>"Earnings"</h1>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(h) => {
                        let mut currencies: Vec<String> = h.months.iter().map(|m| m.currency.clone()).collect();
                        currencies.dedup();
                        let months = h.months.clone();
                        view! {
                            <section class="card" aria-labelledby="portal-balance">
                                <h2 id="portal-balance">"Your commissions"</h2>
                                <BalanceTable balance=h.balance.clone()/>
                            </section>
                            <section class="card" aria-labelledby="next-payout">
                                <h2 id="next-payout">"Next payout"</h2>
                                <p id="next-payout-amount">{if h.next_payout.is_empty() {
                                    "Nothing is payable yet.".to_string()
                                } else {
                                    format!("{} approved, paid in the next payout run.", format_totals(&h.next_payout))
                                }}</p>
                                {h.next_payable_at.map(|t| view! { <p class="muted">{format!("More becomes payable from {}.", format_date(t))}</p> })}
                            </section>
                            <section class="card" aria-labelledby="monthly">
                                <h2 id="monthly">"By month: revenue of your customers and your earnings"</h2>
                                {if currencies.is_empty() {
                                    view! { <p class="empty" id="monthly-empty">"Nothing yet. When a customer you referred pays, the month shows here with their payment and your commission."</p> }.into_any()
                                } else {
                                    currencies.into_iter().map(|c| {
                                        let rows: Vec<PortalMonth> = months.iter().filter(|m| m.currency == c).cloned().collect();
                                        view! {
                                            <div class="table-wrap" tabindex="0"><table class="table month-chart" id=format!("monthly-{c}")>
                                                <caption>{format!("In {c}, last 12 months")}</caption>
                                                <thead><tr><th scope="col">"Month"</th><th scope="col" class="num">"Revenue"</th><th scope="col" class="num">"Earnings"</th></tr></thead>
                                                <tbody>{month_rows(rows)}</tbody>
                                            </table></div>
                                        }
                                    }).collect_view().into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalCustomersPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").filter(|s| !s.is_empty());
    let after = move || query.read().get("after").filter(|s| !s.is_empty());
    let data = Resource::new(move || (q(), after()), |(q, a)| portal_customers(q, a));
    view! {
        <h1>"Customers you referred"</h1>
        <form method="get" action="/partner/customers" class="toolbar filters" role="search">
            <label for="portal-search">"Search by key or name"</label>
            <input id="portal-search" name="q" type="search" value=move || q().unwrap_or_default() maxlength="100"/>
            <button type="submit" class="button secondary">"Search"</button>
        </form>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="empty" id="portal-customers-empty">{if q().is_some() {
                            "No customer of yours matches."
                        } else {
                            "No customers yet. A customer appears here once they sign up with your partner key and Chargebee reports them."
                        }}</p>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next_cursor.clone().map(|c| {
                            let mut href = format!("/partner/customers?after={}", urlencode(&c));
                            if let Some(q) = q() { href.push_str(&format!("&q={}", urlencode(&q))); }
                            href
                        });
                        view! {
                            <div class="table-wrap" tabindex="0"><table class="table" id="portal-customers-table">
                                <thead><tr><th scope="col">"Customer"</th><th scope="col">"Name"</th><th scope="col">"E-mail"</th><th scope="col">"First payment"</th><th scope="col" class="num">"Revenue"</th><th scope="col" class="num">"Your earnings"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|c| view! {
                                        <tr>
                                            <td><code>{c.key.clone()}</code></td>
                                            <td>{c.name.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>{c.email.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>{c.first_payment_at.map(format_date).unwrap_or_else(|| "—".into())}</td>
                                            <td class="num">{format_totals(&c.revenue)}</td>
                                            <td class="num">{format_totals(&c.earnings)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            <nav class="pager" aria-label="Pages">
                                {after().map(|_| view! { <a class="button secondary" href="/partner/customers">"← First"</a> })}
                                {next.map(|href| view! { <a class="button secondary" href=href id="next-page">"Next →"</a> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

const STATUSES: [(&str, &str); 4] = [
    ("", "All"),
    ("pending", "Pending (in the refund window)"),
    ("approved", "Approved (payable)"),
    ("paid", "Paid"),
];

#[component]
pub fn PortalCommissionsPage() -> impl IntoView {
    let query = use_query_map();
    let status = move || query.read().get("status").filter(|s| !s.is_empty());
    let after = move || query.read().get("after").filter(|s| !s.is_empty());
    let data = Resource::new(
        move || (status(), after()),
        |(s, a)| portal_commissions(s, None, a),
    );
    view! {
        <h1>"Commissions"</h1>
        <form method="get" action="/partner/commissions" class="toolbar filters">
            <label for="portal-status">"Status"</label>
            <select id="portal-status" name="status">
                {STATUSES.into_iter().map(|(v, label)| view! { <option value=v selected=move || status().as_deref().unwrap_or("") == v>{label}</option> }).collect_view()}
            </select>
            <button type="submit" class="button secondary">"Filter"</button>
            <a class="button secondary" id="portal-commissions-csv" href=move || match status() {
                Some(s) => format!("/partner/exports/commissions.csv?status={}", urlencode(&s)),
                None => "/partner/exports/commissions.csv".to_string(),
            }>"Download CSV"</a>
        </form>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="empty" id="portal-commissions-empty">"No commissions yet. Each payment of a customer you referred adds one; a refund adds a clawback."</p>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next_cursor.clone().map(|c| {
                            let mut href = format!("/partner/commissions?after={}", urlencode(&c));
                            if let Some(s) = status() { href.push_str(&format!("&status={}", urlencode(&s))); }
                            href
                        });
                        view! {
                            <div class="table-wrap" tabindex="0"><table class="table" id="portal-commissions-table">
                                <thead><tr><th scope="col">"Occurred"</th><th scope="col">"Kind"</th><th scope="col" class="num">"Amount"</th><th scope="col">"Status"</th><th scope="col">"Payable from"</th><th scope="col">"Customer"</th><th scope="col">"Payment"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| view! {
                                        <tr>
                                            <td>{format_date(e.occurred_at)}</td>
                                            <td>{e.kind.clone()}</td>
                                            <td class=if e.amount < 0 { "num negative" } else { "num" }>{money(e.amount, &e.currency)}</td>
                                            <td><span class=format!("badge status-{}", e.status)>{e.status.clone()}</span></td>
                                            <td>{format_date(e.payable_at)}</td>
                                            <td><code>{e.customer_key.clone()}</code></td>
                                            <td><code>{e.transaction_id.clone()}</code></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            <nav class="pager" aria-label="Pages">
                                {after().map(|_| view! { <a class="button secondary" href="/partner/commissions">"← Newest"</a> })}
                                {next.map(|href| view! { <a class="button secondary" href=href id="next-page">"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
pub fn PortalPayoutsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| portal_statements());
    view! {
        <h1>"Payouts"</h1>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty" id="portal-payouts-empty">"No payouts yet. Approved commissions are paid in payout runs; each run you are in shows here with its amount and, once paid, its reference."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap" tabindex="0"><table class="table" id="portal-payouts-table">
                            <thead><tr><th scope="col">"Run"</th><th scope="col">"Created"</th><th scope="col">"Status"</th><th scope="col" class="num">"Amount"</th><th scope="col" class="num">"Entries"</th><th scope="col">"Reference"</th><th scope="col">"Statement"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|s| {
                                    let (label, class) = if s.status == "paid" { ("paid", "badge run-paid") } else { ("being prepared", "badge run-draft") };
                                    let href = format!("/partner/exports/statements/{}.csv", urlencode(&s.run_id));
                                    view! {
                                        <tr>
                                            <td>{format!("#{}", s.run_number)}</td>
                                            <td>{time(s.created_at)}</td>
                                            <td><span class=class>{label}</span>{s.paid_at.map(|t| view! { <br/><span class="muted small">{format!("on {}", format_date(t))}</span> })}</td>
                                            <td class="num">{money(s.amount, &s.currency)}</td>
                                            <td class="num">{s.entries}</td>
                                            <td>{s.reference.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td><a href=href class="statement-csv">"CSV"<span class="visually-hidden">{format!(" of run {}", s.run_number)}</span></a></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalProfilePage() -> impl IntoView {
    let save = ServerAction::<PortalProfile>::new();
    let me = Resource::new(move || save.version().get(), |_| portal_me());
    let value = save.value();
    view! {
        <h1>"Profile"</h1>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match me.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(me) => view! {
                        <section class="card">
                            <p class="muted">"How the company knows you: your name on statements, and the e-mail address payouts are sent to."</p>
                            <ActionForm action=save attr:class="form" attr:id="portal-profile-form">
                                <label for="profile-name">"Name"</label>
                                <input id="profile-name" name="name" value=me.partner_name.clone().unwrap_or_default() autocomplete="organization"/>
                                <FieldError value field="name"/>
                                <label for="profile-email">"Payout e-mail"</label>
                                <input id="profile-email" name="email" type="email" value=me.partner_email.clone().unwrap_or_default() autocomplete="email"/>
                                <FieldError value field="email"/>
                                <ActionError value/>
                                <button type="submit" class="button primary">"Save"</button>
                                <span role="status" aria-live="polite" id="profile-saved">{move || value.get().and_then(|r| r.ok()).map(|_| " Saved.")}</span>
                            </ActionForm>
                        </section>
                        <PasswordCard/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The partner user's own password (their only account setting).
#[component]
fn PasswordCard() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let value = change.value();
    view! {
        <section class="card" aria-labelledby="portal-password">
            <h2 id="portal-password">"Your password"</h2>
            <ActionForm action=change attr:class="form" attr:id="portal-password-form">
                <label for="current-password">"Current password"</label>
                <input id="current-password" name="current_password" type="password" autocomplete="current-password" required/>
                <FieldError value field="current_password"/>
                <label for="new-password">"New password"</label>
                <input id="new-password" name="new_password" type="password" autocomplete="new-password" required aria-describedby="new-password-help"/>
                <span class="help" id="new-password-help">"At least 10 characters. Your other sessions end."</span>
                <FieldError value field="new_password"/>
                <ActionError value/>
                <button type="submit" class="button">"Change password"</button>
                <span role="status" aria-live="polite">{move || value.get().and_then(|r| r.ok()).map(|_| " Password changed.")}</span>
            </ActionForm>
        </section>
    }
}

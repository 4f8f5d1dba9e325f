//! Home: attributed revenue over the last 90 days, top partners, events needing action.

use crate::api::{get_overview, Overview};
use crate::components::{loading, money, time, HealthPanel, LoadError};
use crate::model::{format_count, format_date, format_totals, CurrencyTotal, RevenuePoint};
use leptos::prelude::*;

const DAYS: i64 = 90;

/// Daily totals over the window, one series per currency (alphabetical): amounts in different
/// currencies are never added together.
pub fn daily_series(points: &[RevenuePoint], since: i64) -> Vec<(String, Vec<i128>)> {
    let first_day = since / 86_400_000;
    let mut series: Vec<(String, Vec<i128>)> = vec![];
    for p in points {
        let i = p.day - first_day;
        if !(0..DAYS).contains(&i) {
            continue;
        }
        let days = match series.iter_mut().position(|(c, _)| *c == p.currency) {
            Some(at) => &mut series[at].1,
            None => {
                series.push((p.currency.clone(), vec![0; DAYS as usize]));
                &mut series.last_mut().expect("just pushed").1
            }
        };
        days[i as usize] = days[i as usize].saturating_add(p.net);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series
}

#[component]
fn CurrencyChart(currency: String, days: Vec<i128>, total: i128, since: i64) -> impl IntoView {
    let max = days.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, pad) = (720.0_f64, 200.0_f64, 4.0_f64);
    let bar_w = w / DAYS as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let bh = if *v > 0 { ((*v as f64) / (max as f64) * (h - pad)).max(1.0) } else { 0.0 };
            let x = i as f64 * bar_w;
            let day = since + i as i64 * 86_400_000;
            let label = format!("{}: {}", format_date(day), money(*v, &currency));
            view! {
                <rect x=format!("{:.2}", x + 0.5) y=format!("{:.2}", h - bh) width=format!("{:.2}", (bar_w - 1.0).max(1.0)) height=format!("{:.2}", bh) class="bar">
                    <title>{label}</title>
                </rect>
            }
        })
        .collect_view();
    let start = format_date(since);
    let end = format_date(since + (DAYS - 1) * 86_400_000);
    let title_id = format!("chart-title-{currency}");
    let desc_id = format!("chart-desc-{currency}");
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {w} {}", h + 20.0) role="img" aria-labelledby=format!("{title_id} {desc_id}") preserveAspectRatio="none">
                <title id=title_id.clone()>{format!("Attributed net revenue per day in {currency}")}</title>
                <desc id=desc_id.clone()>{format!("{} attributed from {start} to {end}; the best day brought {}.", money(total, &currency), money(max, &currency))}</desc>
                <line x1="0" y1=h x2=w y2=h class="axis"/>
                {bars}
                <text x="0" y=h + 16.0 class="tick">{start.clone()}</text>
                <text x=w y=h + 16.0 class="tick" text-anchor="end">{end.clone()}</text>
            </svg>
            <figcaption>{format!("{} attributed in the last 90 days.", money(total, &currency))}</figcaption>
        </figure>
    }
}

#[component]
fn RevenueChart(overview: Overview) -> impl IntoView {
    let series = daily_series(&overview.revenue, overview.since);
    if series.is_empty() {
        return view! {
            <p class="empty">"No attributed revenue in the last 90 days yet. Revenue appears here when Chargebee payments arrive for customers who have a partner. "
                <a href="/settings/integrations/webhooks/chargebee">"Connect Chargebee"</a></p>
        }
        .into_any();
    }
    let totals: Vec<CurrencyTotal> = series
        .iter()
        .map(|(currency, days)| CurrencyTotal {
            currency: currency.clone(),
            amount: days.iter().fold(0i128, |a, d| a.saturating_add(*d)),
        })
        .collect();
    let since = overview.since;
    view! {
        <p class="headline" id="revenue-headline">{format_totals(&totals)}</p>
        {overview.converted.map(|c| view! {
            <p class="muted" id="revenue-converted">{format!("≈ {} in total ({}).", money(c.amount, &c.currency), c.how)}</p>
        })}
        {series.into_iter().zip(totals.iter().map(|t| t.amount)).map(|((currency, days), total)| view! { <CurrencyChart currency days total since/> }).collect_view()}
    }
    .into_any()
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_overview());
    view! {
        <h1>"Overview"</h1>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(o) => {
                        let attention = o.needs_action.clone();
                        let partners = o.top_partners.clone();
                        let (rejected, failed) = (o.rejected, o.failed);
                        let (not_attributed, waiting, window) = (o.not_attributed_this_month, o.waiting_this_month, o.attribution_window_days);
                        let health = o.health.clone();
                        view! {
                            <HealthPanel health=health heading="Chargebee integration" settings_href="/settings/integrations/webhooks/chargebee"/>
                            <section class="card">
                                <h2>"Attributed revenue, last 90 days"</h2>
                                <RevenueChart overview=o/>
                            </section>
                            <div class="grid-2">
                                <section class="card">
                                    <h2>"Top partners"</h2>
                                    {if partners.is_empty() {
                                        view! { <p class="empty">"No partners yet. " <a href="/partners">"Add a partner"</a> ", or send customers with a partner_key from Chargebee."</p> }.into_any()
                                    } else {
                                        view! {
                                            <div class="table-wrap" tabindex="0"><table class="table">
                                                <thead><tr><th scope="col">"Partner"</th><th scope="col">"Customers"</th><th scope="col" class="num">"Net revenue"</th></tr></thead>
                                                <tbody>
                                                    {partners.into_iter().map(|p| view! {
                                                        <tr><td>{p.name.clone().unwrap_or(p.key.clone())}</td><td>{p.customers}</td><td class="num">{format_totals(&p.revenue)}</td></tr>
                                                    }).collect_view()}
                                                </tbody>
                                            </table></div>
                                        }.into_any()
                                    }}
                                </section>
                                <section class="card">
                                    <h2>"Needs action"</h2>
                                    {if attention.is_empty() {
                                        view! { <p class="empty ok" id="needs-action-empty">"Nothing needs action: no failed or refused events, and no payment that looks like an integration mistake."</p> }.into_any()
                                    } else {
                                        view! {
                                            <p>
                                                <a href="/events?outcome=failed">{format!("{failed} failed")}</a>
                                                " · "
                                                <a href="/events?outcome=rejected">{format!("{rejected} refused")}</a>
                                            </p>
                                            <ul class="list">
                                                {attention.into_iter().map(|e| view! {
                                                    <li>
                                                        <a href=format!("/events/{}", e.id)>{e.event_type.clone().unwrap_or_else(|| "(no type)".into())}</a>
                                                        " "<span class=format!("badge outcome-{}", e.outcome)>{e.outcome.to_string()}</span>
                                                        " "<span class="muted">{time(e.received_at)}</span>
                                                        <br/><span class="muted small">{e.detail.clone().unwrap_or_default()}</span>
                                                    </li>
                                                }).collect_view()}
                                            </ul>
                                        }.into_any()
                                    }}
                                    <p class="muted" id="not-attributed">{format!(
                                        "{} payment{} this month from customers without a partner{}. That is normal: most customers are not referred.",
                                        format_count(not_attributed + waiting),
                                        if not_attributed + waiting == 1 { "" } else { "s" },
                                        if waiting > 0 { format!(" ({waiting} still waiting up to {window} days for a referred customer with their key)") } else { String::new() },
                                    )}</p>
                                </section>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

//! The webhook event log: filter by outcome and type, inspect the stored payload, replay.

use crate::api::{get_event, list_events, ReplayEvent};
use crate::components::{can_write, loading, time, ActionError, LoadError};
use crate::model::Outcome;
use crate::pages::customers::urlencode;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn EventsPage() -> impl IntoView {
    let query = use_query_map();
    let outcome = move || query.read().get("outcome").filter(|o| !o.is_empty());
    let etype = move || query.read().get("type").filter(|t| !t.is_empty());
    let after = move || query.read().get("after");
    let data = Resource::new(
        move || (outcome(), etype(), after()),
        |(o, t, a)| list_events(o, t, a),
    );
    view! {
        <h1>"Webhook events"</h1>
        <form method="get" action="/events" class="toolbar filters">
            <label for="f-outcome">"Outcome"</label>
            <select id="f-outcome" name="outcome">
                <option value="">"All"</option>
                {Outcome::ALL.into_iter().map(|o| o.as_str()).map(|o| view! { <option value=o selected=move || outcome().as_deref() == Some(o)>{o}</option> }).collect_view()}
            </select>
            <label for="f-type">"Type"</label>
            <Transition fallback=|| view! { <select id="f-type" name="type"><option value="">"All"</option></select> }>
                {move || Suspend::new(async move {
                    let types = data.await.map(|d| d.types).unwrap_or_default();
                    view! {
                        <select id="f-type" name="type">
                            <option value="">"All"</option>
                            {types.into_iter().map(|t| { let sel = etype().as_deref() == Some(t.as_str()); view! { <option value=t.clone() selected=sel>{t.clone()}</option> } }).collect_view()}
                        </select>
                    }
                })}
            </Transition>
            <button type="submit" class="button secondary">"Filter"</button>
        </form>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(list) if list.page.items.is_empty() => view! {
                        <p class="empty">{if outcome().is_some() || etype().is_some() {
                            "No events match these filters."
                        } else {
                            "No webhook events yet. Copy your webhook URL into Chargebee (Settings › Integrations › Webhooks), or send a test event."
                        }}</p>
                    }.into_any(),
                    Ok(list) => {
                        let next = list.page.next_cursor.clone().map(|c| {
                            let mut q = vec![format!("after={}", urlencode(&c))];
                            if let Some(o) = outcome() { q.push(format!("outcome={}", urlencode(&o))); }
                            if let Some(t) = etype() { q.push(format!("type={}", urlencode(&t))); }
                            format!("/events?{}", q.join("&"))
                        });
                        view! {
                            <div class="table-wrap" tabindex="0"><table class="table" id="events-table">
                                <thead><tr><th scope="col">"Received"</th><th scope="col">"Type"</th><th scope="col">"Event id"</th><th scope="col">"Outcome"</th><th scope="col">"Customer"</th><th scope="col">"Detail"</th></tr></thead>
                                <tbody>
                                    {list.page.items.into_iter().map(|e| view! {
                                        <tr>
                                            <td><a href=format!("/events/{}", e.id)>{time(e.received_at)}</a></td>
                                            <td>{e.event_type.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td><code>{e.event_id.clone().unwrap_or_else(|| "—".into())}</code></td>
                                            <td><span class=format!("badge outcome-{}", e.outcome)>{e.outcome.to_string()}</span></td>
                                            <td>{match (e.customer_key.clone(), e.customer_id.is_some()) {
                                                (Some(k), true) => { let href = format!("/customers/{}", urlencode(&k)); view! { <a href=href>{k}</a> }.into_any() }
                                                (Some(k), false) => view! { <span title="No customer has this key yet">{k}</span> }.into_any(),
                                                (None, _) => "".into_any(),
                                            }}</td>
                                            <td class="small">{e.detail.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            <nav class="pager" aria-label="Pages">
                                {after().is_some().then(|| view! { <a class="button secondary" href="/events">"← Newest"</a> })}
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
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let replay = ServerAction::<ReplayEvent>::new();
    let data = Resource::new(
        move || (id(), replay.version().get()),
        |(id, _)| get_event(id),
    );
    let writer = can_write();
    view! {
        <p class="breadcrumb"><a href="/events">"Webhook events"</a></p>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(e) => {
                        let row_id = e.id.clone();
                        let replayable = e.outcome != Outcome::Duplicate && !e.payload.is_empty();
                        view! {
                            <h1>{e.event_type.clone().unwrap_or_else(|| "Rejected delivery".into())}</h1>
                            <dl class="facts">
                                <dt>"Outcome"</dt><dd><span id="event-outcome" class=format!("badge outcome-{}", e.outcome)>{e.outcome.to_string()}</span></dd>
                                <dt>"Detail"</dt><dd id="event-detail">{e.detail.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Chargebee event id"</dt><dd><code>{e.event_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                                <dt>"Received"</dt><dd>{time(e.received_at)}</dd>
                                <dt>"Occurred"</dt><dd>{e.occurred_at.map(time).unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Customer"</dt><dd>{match (e.customer_key.clone(), e.customer_id.is_some()) {
                                    (Some(k), true) => { let href = format!("/customers/{}", urlencode(&k)); view! { <a href=href>{k}</a> }.into_any() }
                                    (Some(k), false) => view! { <span>{k}" "<span class="muted">"(no customer with this key yet)"</span></span> }.into_any(),
                                    (None, _) => "—".into_any(),
                                }}</dd>
                                <dt>"Attempts"</dt><dd>{e.attempts}</dd>
                            </dl>
                            <section class="card" aria-labelledby="history">
                                <h2 id="history">"Processing history"</h2>
                                <div class="table-wrap" tabindex="0"><table class="table" id="attempts-table">
                                    <thead><tr><th scope="col">"#"</th><th scope="col">"When"</th><th scope="col">"Outcome"</th><th scope="col">"Detail"</th></tr></thead>
                                    <tbody>
                                        {e.history.iter().enumerate().map(|(i, a)| view! {
                                            <tr>
                                                <td>{if i == 0 { "1 (received)".to_string() } else { (i + 1).to_string() }}</td>
                                                <td>{time(a.at)}</td>
                                                <td><span class=format!("badge outcome-{}", a.outcome)>{a.outcome.clone()}</span></td>
                                                <td class="small">{a.detail.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            </section>
                            {(writer && replayable).then(|| view! {
                                <button type="button" class="button" id="replay" on:click=move |_| { replay.dispatch(ReplayEvent { id: row_id.clone() }); }
                                    disabled=move || replay.pending().get()>"Replay"</button>
                                <span role="status" aria-live="polite" id="replay-result">
                                    {move || replay.value().get().and_then(|r| r.ok()).map(|r| format!(" Replayed: {}{}", r.outcome, r.detail.map(|d| format!(" ({d})")).unwrap_or_default()))}
                                </span>
                                <ActionError value=replay.value()/>
                            })}
                            <section class="card">
                                <h2>"Stored payload"</h2>
                                <p class="muted small">"Card data is removed before storing."</p>
                                {match e.payload_pruned_at {
                                    Some(at) => view! { <p class="empty" id="event-payload-pruned">{format!("The payload was removed on {}, after the organization's retention period (Settings › Account). The outcome, the history and the ledger rows it wrote are kept.", time(at))}</p> }.into_any(),
                                    None => view! { <pre class="code payload" id="event-payload" tabindex="0">{if e.payload.is_empty() { "(not stored)".to_string() } else { e.payload.clone() }}</pre> }.into_any(),
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

//! Settings › Audit log: every change owners, admins and API keys made (owners and admins).

use crate::api::list_audit;
use crate::components::{loading, time, LoadError};
use crate::pages::customers::urlencode;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The kinds of change, by the prefix of their action.
const KINDS: [(&str, &str); 13] = [
    ("", "All changes"),
    ("integration.", "Chargebee integration"),
    ("plan.", "Plans"),
    ("partner.", "Partners"),
    ("partner_user.", "Partner portal access"),
    ("customer.", "Customers"),
    ("member.", "Members and roles"),
    ("invite.", "Invites"),
    ("api_key.", "API keys"),
    ("commission_terms.", "Commission terms"),
    ("payout.", "Payouts"),
    ("event.", "Replays"),
    ("settings.", "Organization settings"),
];

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let action = move || query.read().get("action").filter(|a| !a.is_empty());
    let actor = move || query.read().get("actor").filter(|a| !a.is_empty());
    let after = move || query.read().get("after").filter(|a| !a.is_empty());
    let data = Resource::new(
        move || (action(), actor(), after()),
        |(a, w, c)| list_audit(a, w, c),
    );
    view! {
        <h1>"Audit log"</h1>
        <p class="muted">"Every change made by a member or an API key: who, when, from which address, and what changed. Nothing here can be edited or deleted; secrets are never shown."</p>
        <form method="get" action="/settings/audit-log" class="toolbar filters">
            <label for="audit-action">"Kind"</label>
            <select id="audit-action" name="action">
                {KINDS.into_iter().map(|(v, label)| view! { <option value=v selected=move || action().as_deref().unwrap_or("") == v>{label}</option> }).collect_view()}
            </select>
            <label for="audit-actor">"By (email or key)"</label>
            <input id="audit-actor" name="actor" value=move || actor().unwrap_or_default()/>
            <button type="submit" class="button secondary">"Filter"</button>
        </form>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="empty">{if action().is_some() || actor().is_some() || after().is_some() { "No changes match." } else { "No changes yet. Rotating the webhook URL, editing plans, partners or commission terms, inviting members and paying payouts all appear here." }}</p>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next_cursor.clone().map(|c| {
                            let mut q = vec![format!("after={}", urlencode(&c))];
                            if let Some(a) = action() { q.push(format!("action={}", urlencode(&a))); }
                            if let Some(w) = actor() { q.push(format!("actor={}", urlencode(&w))); }
                            format!("/settings/audit-log?{}", q.join("&"))
                        });
                        view! {
                            <div class="table-wrap" tabindex="0"><table class="table" id="audit-table">
                                <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"On"</th><th scope="col">"Changes"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| view! {
                                        <tr>
                                            <td>{time(e.at)}</td>
                                            <td>{e.actor_label.clone()}" "<span class="badge">{e.actor_kind.replace('_', " ")}</span><br/><span class="muted small">{e.ip.clone().unwrap_or_default()}</span></td>
                                            <td><code>{e.action.clone()}</code></td>
                                            <td>{e.target.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td><ul class="changes">
                                                {e.changes.into_iter().map(|c| view! {
                                                    <li><strong>{c.field.clone()}</strong>": "{c.before.clone().unwrap_or_else(|| "—".into())}" → "{c.after.clone().unwrap_or_else(|| "—".into())}</li>
                                                }).collect_view()}
                                            </ul></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            <nav class="pager" aria-label="Pages">
                                {after().is_some().then(|| view! { <a class="button secondary" href="/settings/audit-log">"← Newest"</a> })}
                                {next.map(|href| view! { <a class="button secondary" href=href id="next-page">"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

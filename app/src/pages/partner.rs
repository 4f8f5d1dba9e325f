//! One partner: its balance per currency, its commission terms (own or the default) and every
//! commission entry, with the payment and event it came from.

use crate::api::{
    get_partner, list_commission_entries, partner_access, InvitePartnerUser, RemovePartnerTerms,
    RemovePartnerUser, RevokePartnerInvite, SaveTerms,
};
use crate::components::{
    can_write, loading, money, time, ActionError, ConfirmButton, CopyField, FieldError, LoadError,
};
use crate::model::{format_date, PartnerBalance};
use crate::pages::commissions::{TermsEditor, TermsHistory};
use crate::pages::customers::urlencode;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The statuses entries can be filtered by, with their labels.
const STATUSES: [(&str, &str); 4] = [
    ("", "All"),
    ("pending", "Pending (in the hold)"),
    ("approved", "Approved (payable)"),
    ("paid", "Paid"),
];

#[component]
pub fn BalanceTable(balance: PartnerBalance) -> impl IntoView {
    if balance.lines.is_empty() {
        return view! { <p class="empty" id="balance-empty">"No commissions yet. Entries appear when a referred customer's payment is recorded under commission terms."</p> }.into_any();
    }
    let converted = balance.converted.clone();
    let how = converted.as_ref().map(|c| c.how.clone());
    view! {
        <div class="table-wrap" tabindex="0"><table class="table" id="balance-table">
            <caption class="visually-hidden">"Balance per currency"</caption>
            <thead><tr><th scope="col">"Currency"</th><th scope="col" class="num">"Pending"</th><th scope="col" class="num">"Approved"</th><th scope="col" class="num">"Paid"</th><th scope="col" class="num">"Clawed back"</th></tr></thead>
            <tbody>
                {balance.lines.into_iter().map(|b| view! {
                    <tr>
                        <th scope="row">{b.currency.clone()}</th>
                        <td class="num">{money(b.pending, &b.currency)}</td>
                        <td class=if b.approved < 0 { "num negative" } else { "num" }>{money(b.approved, &b.currency)}</td>
                        <td class="num">{money(b.paid, &b.currency)}</td>
                        <td class="num">{money(b.clawed_back, &b.currency)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
            {converted.map(|c| view! {
                <tfoot><tr class="converted">
                    <th scope="row">{format!("≈ {} total", c.currency)}</th>
                    <td class="num">{money(c.pending, &c.currency)}</td>
                    <td class="num">{money(c.approved, &c.currency)}</td>
                    <td class="num">{money(c.paid, &c.currency)}</td>
                    <td class="num">{money(c.clawed_back, &c.currency)}</td>
                </tr></tfoot>
            })}
        </table></div>
        {how.map(|h| view! { <p class="muted small" id="converted-how">{format!("≈ totals: {h}.")}</p> })}
        <p class="muted small">"Approved is payable in the next payout run; a negative approved amount (a clawback after a payout) nets against the next commissions."</p>
    }.into_any()
}

#[component]
pub fn PartnerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let status = move || query.read().get("status").filter(|s| !s.is_empty());
    let after = move || query.read().get("after").filter(|s| !s.is_empty());
    let save = ServerAction::<SaveTerms>::new();
    let remove = ServerAction::<RemovePartnerTerms>::new();
    let data = Resource::new(
        move || (key(), save.version().get(), remove.version().get()),
        |(k, _, _)| get_partner(k),
    );
    let entries = Resource::new(
        move || (key(), status(), after()),
        |(k, s, a)| list_commission_entries(Some(k), None, s, a),
    );
    let writer = can_write();
    view! {
        <p class="breadcrumb"><a href="/partners">"Partners"</a></p>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(d) => {
                        let p = d.partner.clone();
                        let pkey = p.key.clone();
                        let pkey2 = p.key.clone();
                        let editing = RwSignal::new(false);
                        let form = d.terms.form.clone();
                        let history = (!d.terms.versions.is_empty()).then(|| d.terms.clone());
                        let now = d.now;
                        view! {
                            <h1>{p.name.clone().unwrap_or(p.key.clone())}</h1>
                            <dl class="facts">
                                <dt>"Key"</dt><dd><code>{p.key.clone()}</code></dd>
                                <dt>"Email"</dt><dd>{p.email.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Customers"</dt><dd>{p.customers}</dd>
                                <dt>"Attributed net revenue"</dt><dd>{crate::model::format_totals(&p.revenue)}</dd>
                            </dl>
                            <section class="card" aria-labelledby="balance">
                                <h2 id="balance">"Balance"</h2>
                                <BalanceTable balance=d.balance.clone()/>
                            </section>
                            {view! {
                            <section class="card" aria-labelledby="terms">
                                <h2 id="terms">"Commission terms"</h2>
                                {if d.has_override {
                                    view! { <p class="terms-now" id="partner-terms">{d.terms.description.clone()}" "<span class="badge">"own terms"</span></p> }.into_any()
                                } else {
                                    match d.default_terms.clone() {
                                        Some(t) => view! { <p class="terms-now" id="partner-terms">{t}" "<span class="badge">"organization default"</span></p> }.into_any(),
                                        None => view! { <p class="empty" id="partner-terms">"No terms apply: set the default in Settings › Commissions, or terms of this partner's own below."</p> }.into_any(),
                                    }
                                }}
                                {writer.then(|| view! {
                                    <div class="toolbar">
                                        <button type="button" class="button secondary" id="edit-partner-terms" aria-expanded=move || editing.get().to_string() on:click=move |_| editing.update(|e| *e = !*e)>
                                            {if d.has_override { "Change this partner's terms" } else { "Give this partner its own terms" }}
                                        </button>
                                        {d.has_override.then(|| view! {
                                            <ConfirmButton label="Remove own terms".to_string() id="remove-partner-terms".to_string()
                                                question="From now on this partner earns under the organization's default. Payments already recorded keep their commissions.".to_string()
                                                confirm="Remove".to_string() on_confirm=move |_| { remove.dispatch(RemovePartnerTerms { partner: pkey2.clone() }); }/>
                                        })}
                                    </div>
                                    <ActionError value=remove.value()/>
                                    <Show when=move || editing.get()>
                                        <TermsEditor partner=Some(pkey.clone()) initial=form.clone() save now/>
                                    </Show>
                                }.into_any())}
                                {history.map(|terms| view! {
                                    <h3>"Versions of this partner's terms"</h3>
                                    <TermsHistory terms/>
                                })}
                            </section>
                            }.into_any()}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        {writer.then(|| view! { <PortalAccess key=Signal::derive(key)/> }.into_any())}
        <section class="card" aria-labelledby="entries">
            <h2 id="entries">"Commission entries"</h2>
            <form method="get" class="toolbar filters">
                <label for="entry-status">"Status"</label>
                <select id="entry-status" name="status">
                    {STATUSES.into_iter().map(|(v, label)| view! { <option value=v selected=move || status().as_deref().unwrap_or("") == v>{label}</option> }).collect_view()}
                </select>
                <button type="submit" class="button secondary">"Filter"</button>
                <a class="button secondary" id="entries-csv" href=move || {
                    let mut q = format!("/exports/commissions.csv?partner={}", urlencode(&key()));
                    if let Some(s) = status() { q.push_str(&format!("&status={}", urlencode(&s))); }
                    q
                } download>"Export CSV"</a>
            </form>
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    match entries.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <p class="empty">{if status().is_some() || after().is_some() { "No entries match." } else { "No commission entries yet." }}</p>
                        }.into_any(),
                        Ok(page) => {
                            let next = page.next_cursor.clone().map(|c| {
                                let mut q = format!("/partners/{}?after={}", urlencode(&key()), urlencode(&c));
                                if let Some(s) = status() { q.push_str(&format!("&status={}", urlencode(&s))); }
                                q
                            });
                            let first = after().is_some().then(|| format!("/partners/{}", urlencode(&key())));
                            view! {
                                <div class="table-wrap" tabindex="0"><table class="table" id="entries-table">
                                    <thead><tr><th scope="col">"Occurred"</th><th scope="col">"Kind"</th><th scope="col" class="num">"Amount"</th><th scope="col">"Status"</th><th scope="col">"Payable from"</th><th scope="col">"Customer"</th><th scope="col">"Payment"</th><th scope="col">"Event"</th><th scope="col">"Payout"</th></tr></thead>
                                    <tbody>
                                        {page.items.into_iter().map(|e| {
                                            let customer = format!("/customers/{}", urlencode(&e.customer_key));
                                            view! {
                                                <tr>
                                                    <td>{format_date(e.occurred_at)}</td>
                                                    <td>{e.kind.clone()}</td>
                                                    <td class=if e.amount < 0 { "num negative" } else { "num" }>{money(e.amount, &e.currency)}</td>
                                                    <td><span class=format!("badge status-{}", e.status)>{e.status.clone()}</span></td>
                                                    <td>{format_date(e.payable_at)}</td>
                                                    <td><a href=customer>{e.customer_key.clone()}</a></td>
                                                    <td><code>{e.transaction_id.clone()}</code></td>
                                                    <td>{match e.webhook_event_id.clone() {
                                                        Some(id) => {
                                                            let href = format!("/events/{}", urlencode(&id));
                                                            let label = format!("Event of {} {}", e.kind, e.transaction_id);
                                                            view! { <a href=href aria-label=label>"event"</a> }.into_any()
                                                        }
                                                        None => view! { <span class="muted">"—"</span> }.into_any(),
                                                    }}</td>
                                                    <td>{e.payout_id.clone().map(|id| { let href = format!("/payouts/{id}"); view! { <a href=href>"run"</a> } })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                                <nav class="pager" aria-label="Pages">
                                    {first.map(|href| view! { <a class="button secondary" href=href>"← Newest"</a> })}
                                    {next.map(|href| view! { <a class="button secondary" href=href id="next-page">"Older →"</a> })}
                                </nav>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// Who of the partner sees its part in the partner portal: invite a contact (a one-time link),
/// remove a partner user (their sessions end at once), revoke a pending invite. Admins only.
#[component]
fn PortalAccess(key: Signal<String>) -> impl IntoView {
    let invite = ServerAction::<InvitePartnerUser>::new();
    let remove = ServerAction::<RemovePartnerUser>::new();
    let revoke = ServerAction::<RevokePartnerInvite>::new();
    let data = Resource::new(
        move || {
            (
                key.get(),
                invite.version().get(),
                remove.version().get(),
                revoke.version().get(),
            )
        },
        |(k, _, _, _)| partner_access(k),
    );
    let invite_value = invite.value();
    view! {
        <section class="card" aria-labelledby="portal-access">
            <h2 id="portal-access">"Partner portal access"</h2>
            <p class="muted">"People you invite here sign in at the same address and see only this partner's customers (e-mails masked), commissions and payouts, in the partner portal."</p>
            <ActionForm action=invite attr:class="form inline-form" attr:id="partner-invite-form">
                <input type="hidden" name="key" value=move || key.get()/>
                <label for="partner-invite-email">"E-mail"</label>
                <input id="partner-invite-email" name="email" type="email" autocomplete="off" required/>
                <FieldError value=invite_value field="email"/>
                <ActionError value=invite_value/>
                <button type="submit" class="button">"Invite to the portal"</button>
            </ActionForm>
            {move || invite_value.get().and_then(|r| r.ok()).map(|url| view! {
                <div class="notice">
                    <CopyField value=url label="Send this link to the person. It works once, for 7 days." id="partner-invite-link"/>
                </div>
            })}
            <ActionError value=remove.value()/>
            <ActionError value=revoke.value()/>
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(a) if a.users.is_empty() && a.invites.is_empty() => view! {
                            <p class="empty" id="partner-users-empty">"Nobody has access yet."</p>
                        }.into_any(),
                        Ok(a) => view! {
                            <div class="table-wrap" tabindex="0"><table class="table" id="partner-users-table">
                                <thead><tr><th scope="col">"E-mail"</th><th scope="col">"Access"</th><th scope="col">"Since / until"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {a.users.into_iter().map(|u| {
                                        let (k, id) = (key.get_untracked(), u.user_id.clone());
                                        view! {
                                            <tr>
                                                <td>{u.email.clone()}</td>
                                                <td>"Partner user"</td>
                                                <td>{time(u.created_at)}</td>
                                                <td><ConfirmButton label="Remove".to_string() id=format!("remove-partner-user-{}", u.user_id)
                                                    question=format!("Remove {}? They are signed out of the portal at once.", u.email)
                                                    confirm="Remove".to_string()
                                                    on_confirm=move |_| { remove.dispatch(RemovePartnerUser { key: k.clone(), user_id: id.clone() }); }/></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                    {a.invites.into_iter().map(|i| {
                                        let (k, id) = (key.get_untracked(), i.id.clone());
                                        view! {
                                            <tr>
                                                <td>{i.email.clone()}</td>
                                                <td>"Invited"</td>
                                                <td>{format!("until {}", time(i.expires_at))}</td>
                                                <td><ConfirmButton label="Revoke".to_string()
                                                    question=format!("Revoke the invite for {}? Its link stops working.", i.email)
                                                    confirm="Revoke".to_string()
                                                    on_confirm=move |_| { revoke.dispatch(RevokePartnerInvite { key: k.clone(), id: id.clone() }); }/></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

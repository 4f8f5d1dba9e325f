//! Partners: who referred whom, and the revenue attributed to them.

use crate::api::{list_partners, SavePartner};
use crate::components::{can_write, loading, ActionError, FieldError, LoadError};
use crate::model::{format_totals, ConvertedTotal, Partner};
use leptos::prelude::*;

#[component]
fn PartnerForm(
    action: ServerAction<SavePartner>,
    partner: Option<Partner>,
    on_done: Callback<()>,
) -> impl IntoView {
    let value = action.value();
    let create = partner.is_none();
    let p = partner.unwrap_or(Partner {
        id: String::new(),
        key: String::new(),
        name: None,
        email: None,
        auto_created: false,
        created_at: 0,
        customers: 0,
        net_revenue: None,
        currency: None,
        revenue: vec![],
        earnings: vec![],
        revenue_converted: None,
        earnings_converted: None,
    });
    let suffix = if create {
        "new".to_string()
    } else {
        p.key.clone()
    };
    view! {
        <ActionForm action attr:class="form inline-form">
            <input type="hidden" name="create" value=create.to_string()/>
            {if create {
                view! {
                    <label for="partner-key-new">"Key"</label>
                    <input id="partner-key-new" name="key" required/>
                    <FieldError value field="key"/>
                }.into_any()
            } else {
                view! { <input type="hidden" name="key" value=p.key.clone()/> }.into_any()
            }}
            <label for=format!("partner-name-{suffix}")>"Name"</label>
            <input id=format!("partner-name-{suffix}") name="name" value=p.name.clone().unwrap_or_default()/>
            <FieldError value field="name"/>
            <label for=format!("partner-email-{suffix}")>"Email"</label>
            <input id=format!("partner-email-{suffix}") name="email" type="email" value=p.email.clone().unwrap_or_default()/>
            <FieldError value field="email"/>
            <ActionError value/>
            <button type="submit" class="button primary">{if create { "Add partner" } else { "Save" }}</button>
            <button type="button" class="button secondary" on:click=move |_| on_done.run(())>"Cancel"</button>
        </ActionForm>
    }
}

/// A converted total under a per-currency figure, with how it was converted as its title.
fn converted(total: &Option<ConvertedTotal>) -> impl IntoView {
    total.clone().map(|c| {
        view! { <br/><span class="muted small converted-total" title=c.how.clone()>{format!("≈ {}", crate::components::money(c.amount, &c.currency))}</span> }
    })
}

#[component]
pub fn PartnersPage() -> impl IntoView {
    let save = ServerAction::<SavePartner>::new();
    let data = Resource::new(move || save.version().get(), |_| list_partners());
    let writer = can_write();
    let adding = RwSignal::new(false);
    let editing = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) {
            adding.set(false);
            editing.set(None);
        }
    });
    view! {
        <h1>"Partners"</h1>
        {writer.then(|| view! {
            <div class="toolbar">
                <button type="button" class="button" id="add-partner" on:click=move |_| adding.set(true)>"Add partner"</button>
            </div>
            <Show when=move || adding.get()>
                <section class="card"><h2>"Add a partner"</h2>
                    <PartnerForm action=save partner=None on_done=Callback::new(move |_| adding.set(false))/>
                </section>
            </Show>
        })}
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No partners yet. Add one, or send Chargebee customers with a partner_key: unknown partner keys create partners automatically."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap" tabindex="0"><table class="table" id="partners-table">
                            <thead><tr><th scope="col">"Key"</th><th scope="col">"Name"</th><th scope="col" class="num">"Customers"</th><th scope="col" class="num">"Attributed net revenue"</th><th scope="col" class="num">"Commissions earned"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|p| {
                                    let key = p.key.clone();
                                    let key2 = p.key.clone();
                                    let partner = p.clone();
                                    view! {
                                        <tr>
                                            <td><a href=format!("/partners/{}", crate::pages::customers::urlencode(&p.key))><code>{p.key.clone()}</code></a>{p.auto_created.then(|| view! { " " <span class="badge" title="Created automatically from a partner_key (webhook or new customer); add a name">"auto-created"</span> })}</td>
                                            <td>{p.name.clone().unwrap_or_else(|| "—".into())}<br/><span class="muted small">{p.email.clone().unwrap_or_default()}</span></td>
                                            <td class="num">{p.customers}</td>
                                            <td class="num">{format_totals(&p.revenue)}{converted(&p.revenue_converted)}</td>
                                            <td class="num">{format_totals(&p.earnings)}{converted(&p.earnings_converted)}</td>
                                            <td>{writer.then(|| view! {
                                                <button type="button" class="button small secondary" on:click=move |_| editing.set(Some(key.clone()))>"Edit"</button>
                                            })}</td>
                                        </tr>
                                        <Show when=move || editing.get().as_deref() == Some(key2.as_str())>
                                            <tr><td colspan="6">
                                                <PartnerForm action=save partner=Some(partner.clone()) on_done=Callback::new(move |_| editing.set(None))/>
                                            </td></tr>
                                        </Show>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

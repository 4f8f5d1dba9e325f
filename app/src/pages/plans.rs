//! Plans: the keys that name Chargebee plans. Add, rename and delete inline; plan ids seen in
//! subscriptions but not set up are offered for one-click adding.

use crate::api::{get_plans, CreatePlan, DeletePlan, UpdatePlan};
use crate::components::{can_write, loading, ActionError, ConfirmButton, FieldError, LoadError};
use crate::model::Plan;
use leptos::prelude::*;

#[component]
fn PlanRow(
    plan: Plan,
    update: ServerAction<UpdatePlan>,
    delete: ServerAction<DeletePlan>,
    writer: bool,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let key = plan.key.clone();
    let value = update.value();
    let question = match plan.subscriptions {
        0 => format!("Delete plan “{}”? No subscriptions use it.", plan.key),
        1 => format!(
            "Delete plan “{}”? 1 subscription will lose its plan name.",
            plan.key
        ),
        n => format!(
            "Delete plan “{}”? {n} subscriptions will lose their plan name.",
            plan.key
        ),
    };
    let row_id = format!("plan-{}", plan.key);
    view! {
        <tr id=row_id>
            <Show when=move || editing.get() fallback={
                let plan = plan.clone();
                let key = key.clone();
                let question = question.clone();
                move || {
                    let key_for_delete = key.clone();
                    view! {
                        <td><code>{plan.key.clone()}</code></td>
                        <td class="plan-name">{plan.name.clone()}</td>
                        <td class="num">{plan.subscriptions}</td>
                        <td class="actions">
                            {writer.then(|| view! {
                                <button type="button" class="button small secondary edit-plan" on:click=move |_| editing.set(true)>"Edit"</button>
                                " "
                                <ConfirmButton
                                    label="Delete".to_string()
                                    question=question.clone()
                                    confirm="Delete plan".to_string()
                                    on_confirm=move |_| { delete.dispatch(DeletePlan { key: key_for_delete.clone() }); }
                                />
                            })}
                        </td>
                    }
                }
            }>
                {
                    let plan = plan.clone();
                    view! {
                        <td colspan="4">
                            <ActionForm action=update attr:class="form inline-form edit-plan-form">
                                <input type="hidden" name="key" value=plan.key.clone()/>
                                <label for=format!("edit-key-{}", plan.key)>"Key"</label>
                                <input id=format!("edit-key-{}", plan.key) name="new_key" value=plan.key.clone() required/>
                                <FieldError value field="key"/>
                                <label for=format!("edit-name-{}", plan.key)>"Name"</label>
                                <input id=format!("edit-name-{}", plan.key) name="name" value=plan.name.clone() required/>
                                <FieldError value field="name"/>
                                <ActionError value/>
                                <button type="submit" class="button small">"Save"</button>
                                <button type="button" class="button small secondary" on:click=move |_| editing.set(false)>"Cancel"</button>
                            </ActionForm>
                        </td>
                    }
                }
            </Show>
        </tr>
    }
}

#[component]
pub fn PlansPage() -> impl IntoView {
    let create = ServerAction::<CreatePlan>::new();
    let update = ServerAction::<UpdatePlan>::new();
    let delete = ServerAction::<DeletePlan>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                delete.version().get(),
            )
        },
        |_| get_plans(),
    );
    let writer = can_write();
    let value = create.value();
    view! {
        <h1>"Plans"</h1>
        <p class="muted">"A plan's key must equal the Chargebee plan id (Product Catalog 1.0) or item price id / item id (Product Catalog 2.0). Subscriptions then show the plan's name."</p>
        {writer.then(|| view! {
            <section class="card">
                <h2>"Add a plan"</h2>
                <ActionForm action=create attr:class="form inline-form" attr:id="add-plan-form">
                    <label for="plan-key">"Key"</label>
                    <input id="plan-key" name="key" placeholder="pro-monthly" aria-describedby="plan-key-help"/>
                    <span class="help" id="plan-key-help">"Required, no spaces."</span>
                    <FieldError value field="key"/>
                    <label for="plan-name">"Name"</label>
                    <input id="plan-name" name="name" placeholder="Pro (monthly)"/>
                    <FieldError value field="name"/>
                    <ActionError value/>
                    <button type="submit" class="button primary">"Add plan"</button>
                </ActionForm>
            </section>
        })}
        <div role="status" aria-live="polite" class="flash">
            {move || match delete.value().get() {
                Some(Ok(n)) => Some(format!("Plan deleted; {n} subscription(s) no longer show a plan name.")),
                Some(Err(e)) => Some(e.to_string()),
                None => None,
            }}
        </div>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(p) => {
                        let detected = p.detected.clone();
                        view! {
                            <section class="card">
                                <h2>"Your plans"</h2>
                                {if p.plans.is_empty() {
                                    view! { <p class="empty">"No plans yet. Add one above with the same key as your Chargebee plan id."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap" tabindex="0"><table class="table" id="plans-table">
                                            <thead><tr><th scope="col">"Key"</th><th scope="col">"Name"</th><th scope="col" class="num">"Subscriptions"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                            <tbody>
                                                {p.plans.into_iter().map(|plan| view! { <PlanRow plan update delete writer/> }).collect_view()}
                                            </tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            {(!detected.is_empty()).then(|| view! {
                                <section class="card">
                                    <h2>"Detected, not set up"</h2>
                                    <p class="muted">"These plan ids appear in Chargebee subscriptions but have no plan here."</p>
                                    <div class="table-wrap" tabindex="0"><table class="table" id="detected-plans">
                                        <thead><tr><th scope="col">"Plan id"</th><th scope="col" class="num">"Subscriptions"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                        <tbody>
                                            {detected.into_iter().map(|d| {
                                                let key = d.key.clone();
                                                view! {
                                                    <tr>
                                                        <td><code>{d.key.clone()}</code></td>
                                                        <td class="num">{d.subscriptions}</td>
                                                        <td>{writer.then(|| view! {
                                                            <button type="button" class="button small" on:click=move |_| {
                                                                create.dispatch(CreatePlan { key: key.clone(), name: key.clone() });
                                                            }>"Add"</button>
                                                        })}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table></div>
                                </section>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

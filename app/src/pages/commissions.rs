//! Commission terms: the organization's default (Settings › Commissions) and a partner's
//! override, each with its version history and a preview of a change.

use crate::api::{
    get_commission_settings, PreviewTerms, SaveTerms, SetReportingCurrency, TermsInput,
};
use crate::components::{can_write, loading, money, time, ActionError, FieldError, LoadError};
use crate::model::{format_date, CommissionTerms, TermsFormValues, TermsPreview};
use leptos::prelude::*;

/// The terms in force and every version, newest first.
#[component]
pub fn TermsHistory(terms: CommissionTerms) -> impl IntoView {
    view! {
        {if terms.versions.is_empty() {
            view! { <p class="empty">"No versions yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap" tabindex="0"><table class="table terms-history">
                    <caption class="visually-hidden">"Versions of the terms"</caption>
                    <thead><tr><th scope="col">"For payments from"</th><th scope="col">"Terms"</th><th scope="col">"State"</th><th scope="col">"Changed"</th></tr></thead>
                    <tbody>
                        {terms.versions.into_iter().map(|v| view! {
                            <tr>
                                <td>{format_date(v.effective_from)}</td>
                                <td>{v.description.unwrap_or_else(|| "Override removed: the organization's default applies".into())}</td>
                                <td><span class=format!("badge state-{}", v.state.replace(' ', "-"))>{v.state.clone()}</span></td>
                                <td class="muted small">{time(v.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            }.into_any()
        }}
    }
}

/// The preview's outcome: per currency, what the terms would have paid next to what was earned.
#[component]
fn PreviewResult(preview: TermsPreview) -> impl IntoView {
    let to_day = format_date(preview.to.saturating_sub(1));
    view! {
        <div class="preview" id="terms-preview" role="status">
            <p>
                <strong>{preview.description.clone()}</strong>
                {format!(", applied to the {} payment{} from {} to {}", preview.payments, if preview.payments == 1 { "" } else { "s" }, format_date(preview.from), to_day)}
                {(preview.left_out > 0).then(|| format!(" ({} under a partner's own terms left out)", preview.left_out))}
                ". Nothing was changed."
            </p>
            {if preview.lines.is_empty() {
                view! { <p class="empty">"No attributed payments in this period."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0"><table class="table">
                        <thead><tr><th scope="col">"Currency"</th><th scope="col" class="num">"Payments"</th><th scope="col" class="num">"Would have paid"</th><th scope="col" class="num">"Was earned"</th><th scope="col" class="num">"Difference"</th></tr></thead>
                        <tbody>
                            {preview.lines.into_iter().map(|l| view! {
                                <tr>
                                    <td>{l.currency.clone()}</td>
                                    <td class="num">{l.payments}</td>
                                    <td class="num">{money(l.proposed, &l.currency)}</td>
                                    <td class="num">{money(l.actual, &l.currency)}</td>
                                    <td class="num">{money(l.proposed - l.actual, &l.currency)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
        </div>
    }
}

/// The form for a new version of the terms (of the default when `partner` is `None`), with a
/// preview of what it would have paid.
#[component]
pub fn TermsEditor(
    partner: Option<String>,
    initial: Option<TermsFormValues>,
    save: ServerAction<SaveTerms>,
    /// The server's time: the preview's period ends today and starts 90 days back.
    now: i64,
) -> impl IntoView {
    let start = initial.unwrap_or_else(|| TermsFormValues {
        kind: "percent".into(),
        percent: "20".into(),
        duration: "lifetime".into(),
        hold_days: "30".into(),
        ..Default::default()
    });
    let kind = RwSignal::new(start.kind);
    let percent = RwSignal::new(start.percent);
    let flat_amount = RwSignal::new(start.flat_amount);
    let currency = RwSignal::new(start.currency);
    let duration = RwSignal::new(start.duration);
    let duration_count = RwSignal::new(start.duration_count);
    let hold_days = RwSignal::new(start.hold_days);
    let plan_rates = RwSignal::new(start.plan_rates);
    let effective_from = RwSignal::new(String::new());
    let preview_from = RwSignal::new(format_date(now - 90 * 86_400_000));
    let preview_to = RwSignal::new(format_date(now));
    let input = move || TermsInput {
        values: TermsFormValues {
            kind: kind.get_untracked(),
            percent: percent.get_untracked(),
            flat_amount: flat_amount.get_untracked(),
            currency: currency.get_untracked(),
            duration: duration.get_untracked(),
            duration_count: duration_count.get_untracked(),
            hold_days: hold_days.get_untracked(),
            plan_rates: plan_rates.get_untracked(),
        },
        effective_from: effective_from.get_untracked(),
    };
    let preview = ServerAction::<PreviewTerms>::new();
    let value = save.value();
    let pvalue = preview.value();
    let id = partner
        .clone()
        .map_or("default".to_string(), |_| "partner".to_string());
    let p1 = partner.clone();
    let p2 = partner.clone();
    view! {
        <form class="form terms-form" id=format!("terms-form-{id}") on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(SaveTerms { partner: p1.clone(), input: input() });
        }>
            <fieldset>
                <legend>"Pays"</legend>
                <label class="choice"><input type="radio" name="kind" value="percent" checked=move || kind.get() == "percent" on:change=move |_| kind.set("percent".into())/>" a percentage of each payment"</label>
                <label class="choice"><input type="radio" name="kind" value="flat" checked=move || kind.get() == "flat" on:change=move |_| kind.set("flat".into())/>" a flat amount per payment"</label>
            </fieldset>
            <Show when=move || kind.get() == "percent">
                <label for="t-percent">"Percentage"</label>
                <input id="t-percent" inputmode="decimal" bind:value=percent aria-describedby="percent-error"/>
                <FieldError value field="percent"/>
            </Show>
            <Show when=move || kind.get() == "flat">
                <label for="t-flat">"Amount"</label>
                <input id="t-flat" inputmode="decimal" bind:value=flat_amount placeholder="5.00"/>
                <FieldError value field="flat_amount"/>
                <label for="t-currency">"Currency"</label>
                <input id="t-currency" bind:value=currency placeholder="USD" maxlength="3" autocapitalize="characters"/>
                <FieldError value field="currency"/>
            </Show>
            <label for="t-duration">"For"</label>
            <select id="t-duration" on:change=move |ev| duration.set(event_target_value(&ev)) prop:value=move || duration.get()>
                <option value="lifetime">"the customer's lifetime"</option>
                <option value="months">"a number of months after the first payment"</option>
                <option value="payments">"the first payments"</option>
            </select>
            <FieldError value field="duration"/>
            <Show when=move || duration.get() != "lifetime">
                <label for="t-count">{move || if duration.get() == "months" { "Months" } else { "Payments" }}</label>
                <input id="t-count" inputmode="numeric" bind:value=duration_count/>
                <FieldError value field="duration_count"/>
            </Show>
            <label for="t-hold">"Payable after (days; the refund window)"</label>
            <input id="t-hold" inputmode="numeric" bind:value=hold_days/>
            <FieldError value field="hold_days"/>
            <Show when=move || kind.get() == "percent">
                <label for="t-plans">"Other rates per plan (optional, one “plan key = percent” per line)"</label>
                <textarea id="t-plans" rows="3" bind:value=plan_rates placeholder="enterprise = 30"></textarea>
                <FieldError value field="plan_rates"/>
            </Show>
            <label for="t-from">"For payments from (empty: from now)"</label>
            <input id="t-from" type="date" bind:value=effective_from/>
            <FieldError value field="effective_from"/>
            <ActionError value/>
            <div class="form-actions">
                <button type="submit" class="button primary" id=format!("save-terms-{id}")>"Save as a new version"</button>
            </div>
        </form>
        <form class="form inline-form preview-form" on:submit=move |ev| {
            ev.prevent_default();
            preview.dispatch(PreviewTerms { partner: p2.clone(), input: input(), from: preview_from.get_untracked(), to: preview_to.get_untracked() });
        }>
            <p class="muted small">"Preview: what these terms would have paid over a past period, next to what was earned. Nothing is saved."</p>
            <label for=format!("p-from-{id}")>"From"</label>
            <input id=format!("p-from-{id}") type="date" bind:value=preview_from required/>
            <FieldError value=pvalue field="from"/>
            <label for=format!("p-to-{id}")>"To"</label>
            <input id=format!("p-to-{id}") type="date" bind:value=preview_to required/>
            <FieldError value=pvalue field="to"/>
            <button type="submit" class="button secondary" id=format!("preview-terms-{id}")>"Preview"</button>
        </form>
        {move || match pvalue.get() {
            Some(Ok(p)) => Some(view! { <PreviewResult preview=p/> }.into_any()),
            Some(Err(e)) if e.field_message("from").is_none() && e.field_message("to").is_none() => {
                // A field of the terms themselves: say which.
                let text = ["percent", "flat_amount", "currency", "duration_count", "hold_days", "plan_rates", "kind"]
                    .iter()
                    .find_map(|f| e.field_message(f).map(|m| format!("{f}: {m}")))
                    .unwrap_or_else(|| e.to_string());
                Some(view! { <p class="error" role="alert">{text}</p> }.into_any())
            }
            _ => None,
        }}
    }
    .into_any()
}

#[component]
pub fn CommissionSettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveTerms>::new();
    let set_currency = ServerAction::<SetReportingCurrency>::new();
    let data = Resource::new(
        move || (save.version().get(), set_currency.version().get()),
        |_| get_commission_settings(),
    );
    let writer = can_write();
    let cvalue = set_currency.value();
    view! {
        <h1>"Commissions"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(s) => {
                        let terms = s.terms.clone();
                        view! {
                            <section class="card" aria-labelledby="default-terms">
                                <h2 id="default-terms">"Default terms"</h2>
                                {match terms.description.clone() {
                                    Some(d) => view! { <p class="terms-now" id="terms-description">{d}</p> }.into_any(),
                                    None => view! { <p class="empty" id="terms-description">"No default terms yet: referred payments earn nothing until you set them. Partners with terms of their own (on their page) earn under those."</p> }.into_any(),
                                }}
                                <p class="muted small">"Every commission is computed under the version in force when its payment occurred, whenever Chargebee's event arrives."</p>
                            </section>
                            {writer.then(|| view! {
                                <section class="card" aria-labelledby="change-terms">
                                    <h2 id="change-terms">"Change the default terms"</h2>
                                    <TermsEditor partner=None initial=terms.form.clone() save now=s.now/>
                                </section>
                            })}
                            <section class="card" aria-labelledby="versions">
                                <h2 id="versions">"Version history"</h2>
                                <TermsHistory terms=terms/>
                            </section>
                            <section class="card" aria-labelledby="reporting">
                                <h2 id="reporting">"Reporting currency"</h2>
                                <p>"Commissions stay in each payment's currency. Reports add a total in "<strong id="reporting-currency">{s.reporting_currency.clone()}</strong>" where Chargebee's exchange rate of every payment converts to it."</p>
                                {writer.then(|| view! {
                                    <ActionForm action=set_currency attr:class="form inline-form">
                                        <label for="reporting-input">"Currency"</label>
                                        <input id="reporting-input" name="currency" value=s.reporting_currency.clone() maxlength="3" required/>
                                        <FieldError value=cvalue field="currency"/>
                                        <ActionError value=cvalue/>
                                        <button type="submit" class="button secondary">"Save"</button>
                                    </ActionForm>
                                })}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

//! Payout runs: create one up to a date, review its statements, export them, mark it paid
//! (or cancel it).

use crate::api::{get_payout, list_payouts, CancelPayout, CreatePayout, MarkPayoutPaid};
use crate::components::{
    can_write, loading, money, time, ActionError, ConfirmButton, FieldError, LoadError,
};
use crate::model::{format_date, PayoutRun, RunTotal};
use crate::pages::customers::urlencode;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

fn totals(list: &[RunTotal]) -> String {
    if list.is_empty() {
        return "—".into();
    }
    list.iter()
        .map(|t| money(t.amount, &t.currency))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn status_badge(run: &PayoutRun) -> impl IntoView {
    view! { <span class=format!("badge run-{}", run.status)>{run.status.clone()}</span> }
}

#[component]
pub fn PayoutsPage() -> impl IntoView {
    let create = ServerAction::<CreatePayout>::new();
    let data = Resource::new(move || create.version().get(), |_| list_payouts());
    let writer = can_write();
    let value = create.value();
    view! {
        <h1>"Payouts"</h1>
        {writer.then(|| view! {
            <section class="card" aria-labelledby="new-run">
                <h2 id="new-run">"New payout run"</h2>
                <p class="muted">"A run takes, per partner and currency, every approved entry payable up to the date (commissions and clawbacks together). A total that is zero or negative is carried forward to a later run. Nothing is paid until you mark the run paid."</p>
                <ActionForm action=create attr:class="form inline-form" attr:id="create-run">
                    <label for="run-up-to">"Up to (empty: now)"</label>
                    <input id="run-up-to" name="up_to" type="date"/>
                    <FieldError value field="up_to"/>
                    <ActionError value/>
                    <button type="submit" class="button primary" id="create-run-button">"Create payout run"</button>
                </ActionForm>
            </section>
        })}
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(runs) if runs.is_empty() => view! {
                        <p class="empty">"No payout runs yet. Once commissions are approved (after their hold), create a run to pay them."</p>
                    }.into_any(),
                    Ok(runs) => view! {
                        <div class="table-wrap" tabindex="0"><table class="table" id="runs-table">
                            <thead><tr><th scope="col">"Run"</th><th scope="col">"Up to"</th><th scope="col">"Status"</th><th scope="col" class="num">"Pays"</th><th scope="col" class="num">"Statements"</th><th scope="col">"Reference"</th><th scope="col">"Created"</th></tr></thead>
                            <tbody>
                                {runs.into_iter().map(|r| {
                                    let href = format!("/payouts/{}", urlencode(&r.id));
                                    let n: i64 = r.totals.iter().map(|t| t.statements).sum();
                                    view! {
                                        <tr>
                                            <td><a href=href>{format!("Run {}", r.number)}</a></td>
                                            <td>{format_date(r.up_to)}</td>
                                            <td>{status_badge(&r)}</td>
                                            <td class="num">{totals(&r.totals)}</td>
                                            <td class="num">{n}</td>
                                            <td>{r.reference.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>{time(r.created_at)}</td>
                                        </tr>
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

#[component]
pub fn PayoutPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let paid = ServerAction::<MarkPayoutPaid>::new();
    let cancel = ServerAction::<CancelPayout>::new();
    let data = Resource::new(
        move || (id(), paid.version().get(), cancel.version().get()),
        |(id, _, _)| get_payout(id),
    );
    let writer = can_write();
    let pvalue = paid.value();
    view! {
        <p class="breadcrumb"><a href="/payouts">"Payouts"</a></p>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(run) => {
                        let run_id = run.id.clone();
                        let run_id2 = run.id.clone();
                        let draft = run.status == "draft";
                        let confirming = RwSignal::new(false);
                        let reference = RwSignal::new(String::new());
                        view! {
                            <h1>{format!("Payout run {}", run.number)}" "{status_badge(&run)}</h1>
                            <dl class="facts">
                                <dt>"Up to"</dt><dd>{format_date(run.up_to)}</dd>
                                <dt>"Pays"</dt><dd id="run-totals">{totals(&run.totals)}</dd>
                                <dt>"Created"</dt><dd>{time(run.created_at)}</dd>
                                {run.reference.clone().map(|r| view! { <dt>"Reference"</dt><dd id="run-reference">{r}</dd> })}
                                {run.closed_at.map(|t| view! { <dt>{if run.status == "paid" { "Marked paid" } else { "Cancelled" }}</dt><dd>{time(t)}</dd> })}
                            </dl>
                            <div class="toolbar">
                                <a class="button secondary" id="run-csv" href=format!("/exports/payouts/{}.csv", urlencode(&run.id)) download>"Export CSV"</a>
                            </div>
                            {(writer && draft).then(|| view! {
                                <section class="card" aria-labelledby="pay-run">
                                    <h2 id="pay-run">"Pay this run"</h2>
                                    <p class="muted">"Send each partner the amount of its statement, then record the transfer's reference here. Marking the run paid makes its entries paid, for good."</p>
                                    <form class="form inline-form" id="mark-paid-form" on:submit=move |ev| { ev.prevent_default(); confirming.set(true); }>
                                        <label for="run-reference-input">"Payment reference"</label>
                                        <input id="run-reference-input" bind:value=reference required maxlength="200" placeholder="e.g. WIRE-2026-12"/>
                                        <FieldError value=pvalue field="reference"/>
                                        <ActionError value=pvalue/>
                                        <Show when=move || confirming.get() fallback=|| view! { <button type="submit" class="button primary" id="mark-paid">"Mark paid…"</button> }>
                                            <span class="confirm-question" role="alertdialog" aria-label="Confirm marking the run paid">
                                                "Mark every statement of this run paid? This cannot be undone. "
                                                <button type="button" class="button primary confirm-yes" id="confirm-paid" on:click={
                                                    let run_id = run_id.clone();
                                                    move |_| { confirming.set(false); paid.dispatch(MarkPayoutPaid { id: run_id.clone(), reference: reference.get_untracked() }); }
                                                }>"Mark paid"</button>
                                                " "
                                                <button type="button" class="button secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                            </span>
                                        </Show>
                                    </form>
                                    <div class="toolbar">
                                        <ConfirmButton label="Cancel this run".to_string() id="cancel-run".to_string()
                                            question="Cancel this run? Its entries go back to the next run; the run is kept, as cancelled.".to_string()
                                            confirm="Cancel run".to_string() on_confirm=move |_| { cancel.dispatch(CancelPayout { id: run_id2.clone() }); }/>
                                    </div>
                                    <ActionError value=cancel.value()/>
                                </section>
                            })}
                            <section class="card" aria-labelledby="statements">
                                <h2 id="statements">"Statements"</h2>
                                <div class="table-wrap" tabindex="0"><table class="table" id="statements-table">
                                    <thead><tr><th scope="col">"Partner"</th><th scope="col">"Payout email"</th><th scope="col">"Currency"</th><th scope="col" class="num">"Amount"</th><th scope="col" class="num">"Entries"</th></tr></thead>
                                    <tbody>
                                        {run.statements.into_iter().map(|s| {
                                            let href = format!("/partners/{}", urlencode(&s.partner_key));
                                            view! {
                                                <tr>
                                                    <td><a href=href>{s.partner_name.clone().unwrap_or(s.partner_key.clone())}</a></td>
                                                    <td>{s.partner_email.clone().unwrap_or_else(|| "—".into())}</td>
                                                    <td>{s.currency.clone()}</td>
                                                    <td class="num">{money(s.amount, &s.currency)}</td>
                                                    <td class="num">{s.entries}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

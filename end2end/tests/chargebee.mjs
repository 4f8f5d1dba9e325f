// Chargebee v2 events as the browser tests send them, and small page helpers they share.
import assert from 'node:assert/strict';
import { waitForHydration } from './harness.mjs';

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** The first match's text, with runs of white space as one space. */
export const text = async (page, selector) => (await page.locator(selector).first().textContent()).replace(/\s+/g, ' ').trim();

export async function open(page, url) {
  await page.goto(url);
  await waitForHydration(page);
}

// --- Chargebee v2 events ---------------------------------------------------------------------

let seq = 0;
const nextId = (p) => `${p}_${Date.now()}_${++seq}`;

export function envelope(eventType, content, occurredAt = 1_700_000_100) {
  return {
    id: nextId('ev'),
    occurred_at: occurredAt,
    source: 'api',
    object: 'event',
    api_version: 'v2',
    event_type: eventType,
    webhook_status: 'scheduled',
    content,
  };
}

export function cbCustomer(cbId, customerKey, partnerKey) {
  const meta = {};
  if (customerKey) meta.customer_key = customerKey;
  if (partnerKey) meta.partner_key = partnerKey;
  return { id: cbId, email: `${cbId}@example.com`, first_name: 'Ada', meta_data: meta, object: 'customer' };
}

export function paymentSucceeded({ txn = 'txn_1', cbId = 'cb_1', customerKey = 'cust_1', partnerKey = 'partner_1', amount = 5000, date = 1_700_000_100 } = {}) {
  return envelope('payment_succeeded', {
    transaction: {
      id: txn, customer_id: cbId, type: 'payment', date, currency_code: 'USD', amount,
      status: 'success', linked_invoices: [{ invoice_id: 'inv_1' }], subscription_id: 'sub_1', object: 'transaction',
    },
    customer: cbCustomer(cbId, customerKey, partnerKey),
  }, date);
}

export function subscriptionCreated({ sub = 'sub_1', plan, cbId = 'cb_1', customerKey = 'cust_1', partnerKey = 'partner_1' }) {
  return envelope('subscription_created', {
    subscription: {
      id: sub, customer_id: cbId, plan_id: plan, plan_quantity: 1, status: 'active',
      current_term_start: 1_700_000_000, current_term_end: 1_702_592_000, mrr: 4900, currency_code: 'USD',
      resource_version: 1_700_000_000_000, object: 'subscription',
    },
    customer: cbCustomer(cbId, customerKey, partnerKey),
  });
}

export const unknownEvent = () => envelope('e2e_unknown_event', { note: 'nothing to do' });

/** POSTs an event to a webhook URL from node (as Chargebee would); returns [status, json]. */
export async function deliver(url, event) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return [r.status, body];
}

export async function deliverOk(url, event) {
  const [status, body] = await deliver(url, event);
  assert.equal(status, 200, `webhook delivery failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** The webhook URL as shown on the Chargebee page. */
export async function webhookUrl(page, base) {
  await open(page, `${base}/settings/integrations/webhooks/chargebee`);
  const input = page.locator('#webhook-url');
  await input.waitFor();
  return input.inputValue();
}


/** Creates a full-access API key in Settings › API keys; returns a REST caller with it that
 *  fails the test on any answer of 300 or more. */
export async function restClient(page, base, name = 'Browser test') {
  await open(page, `${base}/settings/api-keys`);
  await page.fill('#key-name', name);
  await page.click('#api-key-form button[type=submit]');
  const key = await page.locator('#new-api-key').inputValue();
  return async (method, path, body) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
}

/** axe-core's WCAG 2 A/AA violations on the page as it is now, one line each (the page's
 *  context must bypass the Content-Security-Policy, since the test injects the script). */
export async function axeViolations(page, axePath) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: axePath });
  }
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

// Accessibility: every page, for an empty tenant and for one with real data (every event
// outcome, commissions, a payout run, an alert, audit entries), passes axe-core's WCAG 2 A and
// AA rules in Chromium, at desktop and phone widths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { withApp, signUp } from './harness.mjs';
import { DESKTOP, PHONE, open, envelope, paymentSucceeded, deliver, deliverOk, unknownEvent, webhookUrl, restClient, axeViolations } from './chargebee.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Visits every path at both widths and gathers each page's violations. */
async function audit(page, base, paths) {
  const found = [];
  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport);
    for (const path of paths) {
      await open(page, `${base}${path}`);
      assert.equal(await page.locator('.loading').count(), 0, `${path} finished loading`);
      for (const v of await axeViolations(page, AXE)) found.push(`${viewport.width}px ${path}: ${v}`);
    }
  }
  return found;
}

const SIGNED_IN = [
  '/', '/customers', '/partners', '/payouts', '/plans', '/events',
  '/settings/integrations/webhooks', '/settings/integrations/webhooks/chargebee',
  '/settings/commissions', '/settings/audit-log', '/settings/team', '/settings/api-keys', '/settings/api-keys/reference',
  '/settings/account',
];

test('every page passes axe-core for an empty tenant and for one with data', async () => {
  await withApp(async ({ browser, base }) => {
    // Pages are served with a Content-Security-Policy; axe is injected by the test only.
    const context = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
    // Some 80 page loads with axe runs on 2 cores: allow a slow one.
    context.setDefaultNavigationTimeout(60_000);
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e.message));

    // Signed out.
    const signedOut = await audit(page, base, ['/login', '/signup']);

    // An empty tenant.
    await signUp(page, base, 'Axe Co');
    const empty = await audit(page, base, SIGNED_IN);

    // Data: terms, payments of referred and other customers, a refund, every outcome,
    // an alert, a payout run, an API key and an invite (audit entries come with them).
    const hook = await webhookUrl(page, base);
    const api = await restClient(page, base, 'Axe');
    await api('PUT', '/commission-terms', { rate_bps: 2000, hold_days: 30, effective_from: 0 });
    await api('POST', '/plans', { key: 'pro', name: 'Pro' });
    const now = Math.floor(Date.now() / 1000);
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_old', amount: 12000, date: now - 90 * 86_400 }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_new', amount: 8000, date: now - 86_400 }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_2', cbId: 'cb_2', customerKey: 'cust_2', partnerKey: 'partner_2', amount: 4000, date: now - 3 * 86_400 }));
    await deliverOk(hook, envelope('payment_refunded', {
      transaction: { id: 'txn_refund', customer_id: 'cb_1', type: 'refund', date: now - 3600, currency_code: 'USD', amount: 2000, status: 'success', refunded_txn_id: 'txn_old', object: 'transaction' },
      customer: { id: 'cb_1', meta_data: { customer_key: 'cust_1' }, object: 'customer' },
    }, now - 3600));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_direct', cbId: 'cb_d', customerKey: 'cust_direct', partnerKey: null }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_nokey', cbId: 'cb_n', customerKey: null, partnerKey: null }));
    await deliverOk(hook, unknownEvent());
    const [refused] = await deliver(hook, { ...unknownEvent(), api_version: 'v1' });
    assert.equal(refused, 400);
    await api('POST', '/payouts', { up_to: Date.now() });
    const runs = await api('GET', '/payouts');
    const run = runs.data[0].id;
    await open(page, `${base}/settings/team`);
    await page.fill('#invite-email', 'someone@example.com');
    await page.click('#invite-form button[type=submit]');
    await page.locator('#invite-link').waitFor();
    const inviteUrl = await page.locator('#invite-link').inputValue();
    const events = await api('GET', '/webhook-events?limit=50');
    const paths = [
      ...SIGNED_IN,
      '/customers/cust_1', '/partners/partner_1', `/payouts/${run}`,
      ...events.data.slice(0, 3).map((e) => `/events/${e.id}`),
      '/events?outcome=rejected',
    ];
    // The Overview shows the v1 alert among the data.
    await open(page, `${base}/`);
    await page.locator('#alert-api_version').waitFor();
    const withData = await audit(page, base, paths);

    // The invite page as the invited person sees it (signed out).
    const guest = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
    const guestPage = await guest.newPage();
    const invite = await audit(guestPage, base, [new URL(inviteUrl).pathname]);
    await guest.close();

    assert.deepEqual([...signedOut, ...empty, ...withData, ...invite], [], 'axe-core violations');
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});

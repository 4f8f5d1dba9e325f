// The partner portal: an admin invites a partner's contact from the partner page; the contact
// accepts, lands on the portal, sees the right balance once payments arrive, exports a
// statement, and is refused an admin page. Screenshots of every portal page at desktop and
// phone widths; every portal page passes axe-core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { withApp, newPage, waitForHydration, signUp, screenshot } from './harness.mjs';
import { DESKTOP, PHONE, open, paymentSucceeded, deliverOk, webhookUrl, restClient, axeViolations, text } from './chargebee.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

test('an invited partner contact sees their own earnings, exports a statement and is refused the dashboard', async () => {
  await withApp(async ({ browser, base }) => {
    const admin = await newPage(browser, { base });
    await signUp(admin, base, 'Portal Co');
    const hook = await webhookUrl(admin, base);
    const api = await restClient(admin, base, 'Portal test');
    // 20 % of every payment, payable at once; one referred payment of 50.00 USD so far, and
    // one of another partner's customer.
    await api('PUT', '/commission-terms', { rate_bps: 2000, hold_days: 0, effective_from: 0 });
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_1', amount: 5000 }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_x', cbId: 'cb_x', customerKey: 'cust_other', partnerKey: 'partner_other', amount: 9900 }));

    // The admin invites the partner's contact from the partner page.
    await open(admin, `${base}/partners/partner_1`);
    await admin.locator('#partner-users-empty').waitFor();
    const contact = `contact-${Date.now()}@example.com`;
    await admin.fill('#partner-invite-email', contact);
    await admin.click('#partner-invite-form button[type=submit]');
    const link = await admin.locator('#partner-invite-link').inputValue();
    assert.match(link, /\/invite\/[^/]+$/);
    await admin.locator('#partner-users-table', { hasText: contact }).waitFor();
    await screenshot(admin, 'portal-admin-partner-access-desktop');

    // The contact accepts in a browser of their own and lands on the portal.
    // (Pages are served with a Content-Security-Policy; axe is injected by the test only.)
    const partnerContext = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
    const partner = await partnerContext.newPage();
    partner.errors = [];
    partner.on('pageerror', (e) => partner.errors.push(e.message));
    await partner.goto(link);
    await waitForHydration(partner);
    await partner.locator('main', { hasText: 'partner user of partner_1' }).waitFor();
    await partner.fill('#password', 'partner password 123');
    await partner.click('button:has-text("Join")');
    await partner.waitForURL(`${base}/partner`);
    await waitForHydration(partner);
    await partner.locator('.topbar .who', { hasText: contact }).waitFor();
    assert.match(await text(partner, '#balance-table'), /10\.00 USD/);
    assert.match(await text(partner, '#next-payout-amount'), /10\.00 USD approved/);

    // More payments arrive: the balance follows; the other partner's customer never shows.
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_2', amount: 2500, date: Math.floor(Date.now() / 1000) - 86_400 }));
    await open(partner, `${base}/partner`);
    assert.match(await text(partner, '#balance-table'), /15\.00 USD/);
    await partner.locator('table.month-chart').first().waitFor();
    await open(partner, `${base}/partner/customers`);
    const row = await text(partner, '#portal-customers-table tbody tr');
    assert.match(row, /cust_1/);
    assert.match(row, /c…@example\.com/, 'the e-mail is masked');
    assert.doesNotMatch(await partner.content(), /cust_other|cb_x@/);
    await open(partner, `${base}/partner/commissions`);
    assert.equal(await partner.locator('#portal-commissions-table tbody tr').count(), 2);

    // A payout run, marked paid: the partner sees the statement and exports it.
    const run = await api('POST', '/payouts', { up_to: Date.now() + 1000 });
    await api('POST', `/payouts/${run.id}/paid`, { reference: 'WIRE-0042' });
    await open(partner, `${base}/partner/payouts`);
    const statement = await text(partner, '#portal-payouts-table tbody tr');
    assert.match(statement, /paid/);
    assert.match(statement, /15\.00 USD/);
    assert.match(statement, /WIRE-0042/);
    const href = await partner.locator('a.statement-csv').first().getAttribute('href');
    const csv = await partner.evaluate((u) => fetch(u).then(async (r) => [r.status, r.headers.get('content-type'), await r.text()]), href);
    assert.equal(csv[0], 200);
    assert.match(csv[1], /text\/csv/);
    const lines = csv[2].trim().split('\n');
    assert.equal(lines.length, 2, csv[2]);
    assert.match(lines[1], /^partner_1,.*,USD,15\.00,2,/);
    assert.doesNotMatch(csv[2], /partner_other/);

    // The profile is theirs to edit.
    await open(partner, `${base}/partner/profile`);
    await partner.fill('#profile-name', 'Ada Partners Ltd');
    await partner.fill('#profile-email', 'payouts@ada.example');
    await partner.click('#portal-profile-form button[type=submit]');
    await partner.locator('#profile-saved', { hasText: 'Saved' }).waitFor();
    await open(admin, `${base}/partners/partner_1`);
    await admin.locator('h1', { hasText: 'Ada Partners Ltd' }).waitFor();

    // An admin page: sent back to the portal; an admin server function: refused.
    await partner.goto(`${base}/customers`);
    await partner.waitForURL(`${base}/partner`);
    const refused = await partner.evaluate(() => fetch('/rpc/partners', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }).then((r) => r.status));
    assert.equal(refused, 403);

    // Screenshots and accessibility of every portal page, at both widths.
    const found = [];
    for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await partner.setViewportSize(viewport);
      for (const [name, path] of [['home', '/partner'], ['customers', '/partner/customers'], ['commissions', '/partner/commissions'], ['payouts', '/partner/payouts'], ['profile', '/partner/profile']]) {
        await open(partner, `${base}${path}`);
        await screenshot(partner, `portal-${name}-${label}`);
        const overflow = await partner.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) found.push(`${label} ${path} is ${overflow}px too wide`);
        const v = await axeViolations(partner, AXE);
        for (const x of v) found.push(`${label} ${path}: ${x}`);
      }
    }
    assert.deepEqual(found, []);
    assert.deepEqual(partner.errors, []);
    assert.deepEqual(admin.errors, []);
  });
});

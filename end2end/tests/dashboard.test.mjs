// Dashboard: the Chargebee webhook page (copy, keyboard, rotate), the plan editor, webhooks
// showing up on customers and in the event log (replay, filter), customer pagination, and
// screenshots of every page at desktop and phone widths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withApp, newPage, waitForHydration, signUp, screenshot } from './harness.mjs';
import { DESKTOP, PHONE, open, envelope, cbCustomer, paymentSucceeded, subscriptionCreated, unknownEvent, deliver, deliverOk, webhookUrl } from './chargebee.mjs';

const readClipboard = (page) => page.evaluate(() => navigator.clipboard.readText());
const writeClipboard = (page, text) => page.evaluate((t) => navigator.clipboard.writeText(t), text);

// --- Tests -----------------------------------------------------------------------------------

test('the Chargebee webhook URL is reached from the navigation, copied by mouse and keyboard, and rotated', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Webhook Co');
    await waitForHydration(page);

    // Navigation: sidebar link, then the Chargebee integration.
    await page.locator('nav.sidebar a', { hasText: 'Integrations › Webhooks' }).click();
    await page.waitForURL(`${base}/settings/integrations/webhooks`);
    await page.locator('nav.sidebar a[aria-current=page]', { hasText: 'Integrations › Webhooks' }).waitFor();
    await page.click('#integration-chargebee');
    await page.waitForURL(`${base}/settings/integrations/webhooks/chargebee`);
    const input = page.locator('#webhook-url');
    await input.waitFor();
    const url = await input.inputValue();
    assert.match(url, new RegExp(`^${base.replace(/[.]/g, '\\.')}/webhooks/chargebee/[A-Za-z0-9_-]{16,}$`));
    assert.equal(await page.locator('#previous-url-notice').count(), 0, 'no previous URL before rotating');

    // Mouse: Copy puts exactly the URL on the clipboard and says so.
    const status = page.locator('.copy-field:has(#webhook-url) .copy-status');
    assert.equal((await status.textContent()).trim(), '');
    await writeClipboard(page, 'sentinel');
    await page.click('#webhook-url-copy');
    await status.filter({ hasText: 'Copied' }).waitFor();
    assert.equal((await status.textContent()).trim(), 'Copied');
    assert.equal(await readClipboard(page), url);

    // Keyboard: Tab from the URL field reaches Copy, and Enter copies (fresh page, empty status).
    await open(page, `${base}/settings/integrations/webhooks/chargebee`);
    await page.locator('#webhook-url').waitFor();
    await writeClipboard(page, 'sentinel');
    assert.equal((await status.textContent()).trim(), '');
    await page.focus('#webhook-url');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'webhook-url-copy');
    await page.keyboard.press('Enter');
    await status.filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await readClipboard(page), url);

    // The URL accepts deliveries before rotating.
    assert.equal((await deliverOk(url, unknownEvent())).outcome, 'ignored');

    // Rotate: asks first, then shows a new URL and says the old one keeps working for a while.
    await page.click('#rotate-url');
    const question = page.locator('.confirm-question');
    await question.waitFor();
    assert.match(await question.textContent(), /current one keeps working for 7 days/);
    await page.locator('.confirm-yes', { hasText: 'Yes, rotate' }).click();
    await page.locator('#previous-url-notice').waitFor();
    await page.waitForFunction((old) => {
      const el = document.querySelector('#webhook-url');
      return el && el.value && el.value !== old;
    }, url);
    const rotated = await page.locator('#webhook-url').inputValue();
    assert.notEqual(rotated, url);
    assert.match(rotated, /\/webhooks\/chargebee\/[A-Za-z0-9_-]{16,}$/);
    assert.match(await page.locator('#previous-url-notice').textContent(), /previous URL keeps working until/);

    // Copy now copies the new URL.
    await writeClipboard(page, 'sentinel');
    await page.click('#webhook-url-copy');
    await page.waitForFunction(() => navigator.clipboard.readText().then((t) => t !== 'sentinel'));
    assert.equal(await readClipboard(page), rotated);
    assert.equal((await status.textContent()).trim(), 'Copied');

    // Both URLs work during the grace period.
    assert.equal((await deliverOk(rotated, unknownEvent())).outcome, 'ignored');
    assert.equal((await deliverOk(url, unknownEvent())).outcome, 'ignored');

    assert.deepEqual(page.errors, []);
  });
});

test('the plan editor adds a plan, explains invalid keys, renames and deletes with confirmation', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Plans Co');
    const hook = await webhookUrl(page, base);

    await open(page, `${base}/plans`);
    await page.locator('#add-plan-form').waitFor();
    await page.locator('.empty', { hasText: 'No plans yet' }).waitFor();

    // Add.
    await page.fill('#plan-key', 'pro-monthly');
    await page.fill('#plan-name', 'Pro (monthly)');
    await page.click('#add-plan-form button[type=submit]');
    const row = page.locator('tr#plan-pro-monthly');
    await row.waitFor();
    assert.equal((await row.locator('.plan-name').textContent()).trim(), 'Pro (monthly)');
    assert.equal(await page.locator('#add-plan-form .field-error').count(), 0);

    // Validation: each message is shown next to the key field.
    const keyError = page.locator('#add-plan-form .field-error#key-error');
    await page.fill('#plan-key', '');
    await page.fill('#plan-name', 'No key');
    await page.click('#add-plan-form button[type=submit]');
    await keyError.filter({ hasText: 'is required' }).waitFor();

    await page.fill('#plan-key', 'a b');
    await page.fill('#plan-name', 'Spaces');
    await page.click('#add-plan-form button[type=submit]');
    await keyError.filter({ hasText: 'must not contain spaces' }).waitFor();

    await page.fill('#plan-key', 'pro-monthly');
    await page.fill('#plan-name', 'Duplicate');
    await page.click('#add-plan-form button[type=submit]');
    await keyError.filter({ hasText: 'already exists' }).waitFor();

    // None of the invalid plans was created.
    assert.equal(await page.locator('#plans-table tbody tr').count(), 1);

    // Rename via the inline editor: the row's id follows the new key.
    await row.locator('.edit-plan').click();
    const form = page.locator('.edit-plan-form');
    await form.waitFor();
    await form.locator('input[name=new_key]').fill('pro-annual');
    await form.locator('input[name=name]').fill('Pro (annual)');
    await form.locator('button', { hasText: 'Save' }).click();
    const renamed = page.locator('tr#plan-pro-annual');
    await renamed.locator('.plan-name', { hasText: 'Pro (annual)' }).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#plans-table tbody tr').count(), 1);

    // A subscription on the plan: the delete question counts it.
    await deliverOk(hook, subscriptionCreated({ plan: 'pro-annual' }));
    await open(page, `${base}/plans`);
    await renamed.waitFor();
    assert.equal((await renamed.locator('td.num').textContent()).trim(), '1');
    await renamed.locator('button', { hasText: 'Delete' }).click();
    const question = renamed.locator('.confirm-question');
    await question.waitFor();
    assert.match(await question.textContent(), /Delete plan “pro-annual”\? 1 subscription will lose its plan name\./);
    // Cancel keeps it.
    await question.locator('button', { hasText: 'Cancel' }).click();
    await question.waitFor({ state: 'detached' });
    assert.equal(await renamed.count(), 1);
    // Confirm deletes it.
    await renamed.locator('button', { hasText: 'Delete' }).click();
    await renamed.locator('.confirm-yes', { hasText: 'Delete plan' }).click();
    await renamed.waitFor({ state: 'detached' });
    await page.locator('.flash', { hasText: 'Plan deleted; 1 subscription(s) no longer show a plan name.' }).waitFor();
    // The plan id is now offered under "Detected, not set up".
    await page.locator('#detected-plans tr', { hasText: 'pro-annual' }).waitFor();

    assert.deepEqual(page.errors, []);
  });
});

test('a webhook sent to the copied URL shows up on the customer page and in the event log, which filters and replays', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Ledger Co');

    await open(page, `${base}/settings/integrations/webhooks/chargebee`);
    await page.locator('#webhook-url').waitFor();
    await page.click('#webhook-url-copy');
    await page.locator('.copy-status', { hasText: 'Copied' }).waitFor();
    const url = await readClipboard(page);
    assert.equal(url, await page.locator('#webhook-url').inputValue());

    const paid = await deliverOk(url, paymentSucceeded());
    assert.equal(paid.outcome, 'processed');
    const parked = await deliverOk(url, paymentSucceeded({ txn: 'txn_2', cbId: 'cb_2', customerKey: 'cust_unknown', partnerKey: null }));
    assert.equal(parked.outcome, 'unmatched');
    const ignored = await deliverOk(url, unknownEvent());
    assert.equal(ignored.outcome, 'ignored');

    // The customer page shows the transaction, the partner and the event.
    await open(page, `${base}/customers/cust_1`);
    const txns = page.locator('#transactions-table');
    await txns.waitFor();
    const txnRow = txns.locator('tbody tr', { hasText: 'txn_1' });
    assert.equal(await txnRow.count(), 1);
    assert.match(await txnRow.textContent(), /50\.00 USD/);
    assert.match(await page.locator('#customer-partner').textContent(), /partner_1/);
    assert.match(await page.locator('#customer-events').textContent(), /payment_succeeded\s*processed/);

    // The event log lists all three.
    await open(page, `${base}/events`);
    const events = page.locator('#events-table tbody tr');
    await events.first().waitFor();
    assert.equal(await events.count(), 3);
    const paidRow = events.filter({ hasText: 'payment_succeeded' }).filter({ hasText: 'processed' });
    assert.equal(await paidRow.count(), 1);

    // Filter by outcome.
    await page.selectOption('#f-outcome', 'unmatched');
    await page.locator('form.filters button[type=submit]').click();
    await page.waitForURL(/\/events\?(.*&)?outcome=unmatched/);
    await page.waitForFunction(() => document.querySelectorAll('#events-table tbody tr').length === 1);
    assert.match(await events.first().textContent(), /unmatched/);
    assert.match(await events.first().textContent(), /cust_unknown/);
    assert.equal(await page.locator('#f-outcome').inputValue(), 'unmatched');

    await page.selectOption('#f-outcome', 'failed');
    await page.locator('form.filters button[type=submit]').click();
    await page.waitForURL(/\/events\?(.*&)?outcome=failed/);
    await page.locator('.empty', { hasText: 'No events match these filters.' }).waitFor();

    // Open the processed payment: payload visible, replay shows an outcome.
    await open(page, `${base}/events`);
    await events.first().waitFor();
    await paidRow.locator('a').first().click();
    await page.waitForURL(new RegExp(`/events/${paid.event}$`));
    await page.locator('#event-outcome', { hasText: 'processed' }).waitFor();
    const payload = await page.locator('#event-payload').textContent();
    const parsed = JSON.parse(payload);
    assert.equal(parsed.event_type, 'payment_succeeded');
    assert.equal(parsed.content.transaction.id, 'txn_1');
    assert.ok(payload.includes('\n  '), 'the payload is pretty-printed');
    await page.click('#replay');
    await page.locator('#replay-result', { hasText: 'Replayed:' }).waitFor();
    assert.match(await page.locator('#replay-result').textContent(), /Replayed: (processed|duplicate|ignored)/);
    // Replaying did not double the ledger.
    await open(page, `${base}/customers/cust_1`);
    await page.locator('#transactions-table').waitFor();
    assert.equal(await page.locator('#transactions-table tbody tr').count(), 1);

    assert.deepEqual(page.errors, []);
  });
});

test('the customer list shows 25 customers a page and the next page shows the rest', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Many Customers Co');

    await open(page, `${base}/settings/api-keys`);
    await page.fill('#key-name', 'e2e');
    await page.click('#api-key-form button[type=submit]');
    await page.locator('#new-api-key').waitFor();
    const key = await page.locator('#new-api-key').inputValue();
    assert.ok(key.length > 20);

    const keys = Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    for (const k of keys) {
      const r = await fetch(`${base}/api/v1/customers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ key: k, email: `${k}@example.com` }),
      });
      assert.equal(r.status, 201, `creating ${k}: ${r.status} ${await r.text()}`);
    }

    const rowKeys = () => page.$$eval('#customers-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent.trim()));
    await open(page, `${base}/customers`);
    await page.locator('#customers-table').waitFor();
    const first = await rowKeys();
    assert.equal(first.length, 25);
    assert.deepEqual(first, keys.slice(0, 25));

    await page.click('#next-page');
    await page.waitForURL(/\/customers\?after=/);
    await page.waitForFunction(() => document.querySelectorAll('#customers-table tbody tr').length === 5);
    const second = await rowKeys();
    assert.deepEqual(second, keys.slice(25));
    assert.equal(await page.locator('#next-page').count(), 0, 'no next page after the last one');

    // Search narrows the list.
    await open(page, `${base}/customers`);
    await page.fill('#customer-search', 'c07');
    await page.press('#customer-search', 'Enter');
    await page.waitForURL(/\/customers\?q=c07/);
    await page.waitForFunction(() => document.querySelectorAll('#customers-table tbody tr').length === 1);
    assert.deepEqual(await rowKeys(), ['c07']);

    assert.deepEqual(page.errors, []);
  });
});

test('every page renders with data at desktop and phone widths (screenshots)', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base, viewport: DESKTOP });
    await signUp(page, base, 'Screenshot Co');
    const hook = await webhookUrl(page, base);

    // Data: a plan, payments with partners, a subscription, an unmatched and an ignored event,
    // a pending invite and an API key.
    await open(page, `${base}/plans`);
    await page.fill('#plan-key', 'pro-monthly');
    await page.fill('#plan-name', 'Pro (monthly)');
    await page.click('#add-plan-form button[type=submit]');
    await page.locator('tr#plan-pro-monthly').waitFor();
    // Recent payments, so the overview's 90-day chart has bars.
    const daysAgo = (n) => Math.floor(Date.now() / 1000) - n * 86_400;
    await deliverOk(hook, paymentSucceeded({ date: daysAgo(40) }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_1b', date: daysAgo(10), amount: 7500 }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_2', cbId: 'cb_2', customerKey: 'cust_2', partnerKey: 'partner_2', amount: 12900, date: daysAgo(3) }));
    await deliverOk(hook, subscriptionCreated({ plan: 'pro-monthly' }));
    await deliverOk(hook, subscriptionCreated({ sub: 'sub_2', plan: 'enterprise', cbId: 'cb_2', customerKey: 'cust_2', partnerKey: 'partner_2' }));
    await deliverOk(hook, paymentSucceeded({ txn: 'txn_3', cbId: 'cb_3', customerKey: 'cust_later', partnerKey: null }));
    await deliverOk(hook, unknownEvent());
    await open(page, `${base}/settings/team`);
    await page.fill('#invite-email', 'someone@example.com');
    await page.click('#invite-form button[type=submit]');
    await page.locator('#invite-link').waitFor();
    await open(page, `${base}/settings/api-keys`);
    await page.fill('#key-name', 'Backend');
    await page.click('#api-key-form button[type=submit]');
    await page.locator('#new-api-key').waitFor();

    await open(page, `${base}/events?outcome=processed`);
    await page.locator('#events-table').waitFor();
    const eventHref = await page.locator('#events-table tbody tr a').first().getAttribute('href');

    const pages = [
      ['overview', '/', 'figure.chart'],
      ['webhooks', '/settings/integrations/webhooks', '#integration-chargebee'],
      ['chargebee', '/settings/integrations/webhooks/chargebee', '#webhook-url'],
      ['plans', '/plans', '#plans-table'],
      ['customers', '/customers', '#customers-table'],
      ['customer', '/customers/cust_1', '#transactions-table'],
      ['partners', '/partners', '#partners-table'],
      ['events', '/events', '#events-table'],
      ['event', eventHref, '#event-payload'],
      ['team', '/settings/team', '#members-table'],
      ['api-keys', '/settings/api-keys', '#api-keys-table'],
      ['account', '/settings/account', '#password-form'],
    ];
    const tooWide = [];
    for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      for (const [name, path, ready] of pages) {
        await open(page, `${base}${path}`);
        await page.locator(ready).first().waitFor();
        assert.equal(await page.locator('.loading').count(), 0, `${path} finished loading`);
        await screenshot(page, `${label}-${name}`);
        // Nothing may spill sideways out of the page at this width (checked after all shots).
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) tooWide.push(`${label} ${path} is ${overflow}px wider than the window`);
      }
      // Signed-out pages in a fresh context.
      const out = await newPage(browser, { base, viewport });
      for (const [name, form] of [['login', '#login-form'], ['signup', '#signup-form']]) {
        await open(out, `${base}/${name}`);
        await out.locator(form).waitFor();
        await screenshot(out, `${label}-${name}`);
      }
      assert.deepEqual(out.errors, []);
      await out.context().close();
    }
    assert.deepEqual(tooWide, [], 'pages must fit the window without horizontal scrolling');
    assert.deepEqual(page.errors, []);
  });
});

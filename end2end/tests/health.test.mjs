// Integration health as a new tenant sees it: an Overview with mostly non-referred traffic has
// nothing in "Needs action" and says how many payments came from customers without a partner;
// Basic Auth set in the dashboard but not in Chargebee raises an alert on the Overview and the
// Chargebee page, which clears once a delivery with the right credentials arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withApp, newPage, signUp, screenshot } from './harness.mjs';
import { DESKTOP, PHONE, open, paymentSucceeded, deliver, deliverOk, webhookUrl, text } from './chargebee.mjs';


test('an Overview with 90 % non-referred traffic needs no action, and wrong Basic Auth is an alert until fixed', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base, viewport: DESKTOP });
    await signUp(page, base, 'Mostly Direct Co');
    const hook = await webhookUrl(page, base);

    // 40 payments this month: 4 by referred customers, 36 by customers nobody referred.
    const now = Math.floor(Date.now() / 1000);
    for (let n = 0; n < 40; n++) {
      const referred = n % 10 === 0;
      await deliverOk(hook, paymentSucceeded({
        txn: `txn_${n}`,
        cbId: `cb_${n}`,
        customerKey: `cust_${n}`,
        partnerKey: referred ? `partner_${n % 3}` : null,
        amount: 1000 + n,
        date: now - n * 60,
      }));
    }

    await open(page, `${base}/`);
    await page.locator('#needs-action-empty').waitFor();
    assert.match(await text(page, '#not-attributed'), /^36 payments this month from customers without a partner/);
    assert.match(await text(page, '#last-delivery'), /No problems found/);
    assert.equal(await page.locator('#integration-health .alert').count(), 0);
    // Deliveries per outcome over 24 hours and 7 days.
    const counts = await page.locator('#delivery-counts tbody tr').allTextContents();
    assert.ok(counts.some((row) => /processed\s*4\s*4/.test(row)), counts.join(' | '));
    assert.ok(counts.some((row) => /unmatched\s*36\s*36/.test(row)), counts.join(' | '));
    await screenshot(page, 'health-overview-mostly-direct-desktop');

    // Basic Auth turned on here but not entered in Chargebee: deliveries are refused.
    await open(page, `${base}/settings/integrations/webhooks/chargebee`);
    await page.fill('#ba-username', 'chargebee');
    await page.fill('#ba-password', 'a-long-webhook-password');
    await page.click('button:has-text("Save Basic Auth")');
    await page.locator('#basic-auth-state', { hasText: 'Basic Auth is on' }).waitFor();
    const [status] = await deliver(hook, paymentSucceeded({ txn: 'txn_refused', customerKey: 'cust_x', partnerKey: null }));
    assert.equal(status, 401);

    for (const [path, name] of [['/', 'overview'], ['/settings/integrations/webhooks/chargebee', 'chargebee']]) {
      await open(page, `${base}${path}`);
      const alert = page.locator('#alert-basic_auth');
      await alert.waitFor();
      assert.match(await text(page, '#alert-basic_auth'), /Basic Auth username or password is wrong or missing/);
      assert.match(await text(page, '#alert-basic_auth'), /1 delivery in the last 7 days/);
      await screenshot(page, `health-${name}-basic-auth-alert-desktop`);
    }
    await page.setViewportSize(PHONE);
    await open(page, `${base}/`);
    await page.locator('#alert-basic_auth').waitFor();
    await screenshot(page, 'health-overview-basic-auth-alert-phone');
    await page.setViewportSize(DESKTOP);

    // Chargebee gets the same credentials: the next delivery is accepted and the alert goes.
    const auth = `Basic ${Buffer.from('chargebee:a-long-webhook-password').toString('base64')}`;
    const r = await fetch(hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(paymentSucceeded({ txn: 'txn_ok', cbId: 'cb_ok', customerKey: 'cust_ok', partnerKey: null })),
    });
    assert.equal(r.status, 200);
    await open(page, `${base}/`);
    await page.locator('#last-delivery', { hasText: 'No problems found' }).waitFor();
    assert.equal(await page.locator('#alert-basic_auth').count(), 0);
    assert.deepEqual(page.errors, []);
  });
});

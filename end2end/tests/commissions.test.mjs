// Commissions: default terms set and previewed in Settings › Commissions, a partner's balance
// and entries, and a payout run through to "paid" (with its CSV), with screenshots at desktop
// and phone widths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withApp, newPage, waitForHydration, signUp, screenshot } from './harness.mjs';
import { PHONE, open, paymentSucceeded, deliverOk, webhookUrl, text } from './chargebee.mjs';

const cells = async (page, selector) => (await page.locator(selector).allTextContents()).map((t) => t.trim());

test('commission terms, a partner balance and a payout run through to paid', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Commission Co');
    const url = await webhookUrl(page, base);

    // Settings › Commissions from the navigation: no terms yet, said plainly.
    await page.locator('nav.sidebar a', { hasText: 'Commissions' }).click();
    await page.waitForURL(`${base}/settings/commissions`);
    await waitForHydration(page);
    assert.match(await text(page, '#terms-description'), /No default terms yet/);
    await screenshot(page, 'commissions-settings-empty-desktop');

    // 20 % for 12 months after the first payment, payable after 30 days, from 2023 on.
    await page.fill('#t-percent', '20');
    await page.selectOption('#t-duration', 'months');
    await page.fill('#t-count', '12');
    await page.fill('#t-hold', '30');
    await page.fill('#t-from', '2023-01-01');
    await page.click('#save-terms-default');
    await page.locator('#terms-description', { hasText: '20' }).waitFor();
    const description = await text(page, '#terms-description');
    assert.match(description, /20 ?%/);
    assert.match(description, /12 months/);
    assert.match(description, /30 days/);
    assert.equal(await page.locator('.terms-history tbody tr').count(), 1);
    assert.match(await text(page, '.terms-history tbody tr'), /in force/);

    // A bad value names its field and saves nothing.
    await page.fill('#t-percent', '120');
    await page.click('#save-terms-default');
    await page.locator('#percent-error').waitFor();
    assert.equal(await page.locator('.terms-history tbody tr').count(), 1);

    // Two referred payments arrive (80.00 USD): 16.00 USD earned.
    await deliverOk(url, paymentSucceeded({ txn: 'txn_a', amount: 5000 }));
    await deliverOk(url, paymentSucceeded({ txn: 'txn_b', amount: 3000, date: 1_700_100_000 }));

    // The preview: 10 % would have paid 8.00 where 16.00 was earned; nothing changes.
    await open(page, `${base}/settings/commissions`);
    await page.fill('#t-percent', '10');
    await page.fill('#p-from-default', '2023-11-01');
    await page.fill('#p-to-default', '2023-11-30');
    await page.click('#preview-terms-default');
    await page.locator('#terms-preview table').waitFor();
    const preview = await text(page, '#terms-preview');
    assert.match(preview, /2 payments/);
    assert.match(preview, /8\.00 USD/);
    assert.match(preview, /16\.00 USD/);
    assert.match(preview, /Nothing was changed/);
    assert.equal(await page.locator('.terms-history tbody tr').count(), 1);
    await screenshot(page, 'commissions-settings-desktop');

    // The partner's page, from the partners list: balance and both entries.
    await open(page, `${base}/partners`);
    await page.locator('#partners-table a', { hasText: 'partner_1' }).click();
    await page.waitForURL(`${base}/partners/partner_1`);
    await waitForHydration(page);
    await page.locator('#balance-table').waitFor();
    assert.deepEqual(await cells(page, '#balance-table tbody tr :is(th, td)'), ['USD', '0.00 USD', '16.00 USD', '0.00 USD', '0.00 USD']);
    assert.equal(await page.locator('#entries-table tbody tr').count(), 2);
    assert.match(await text(page, '#partner-terms'), /organization default/);
    await screenshot(page, 'partner-desktop');

    // A payout run: statements, CSV, then paid with a reference.
    await page.locator('nav.sidebar a', { hasText: 'Payouts' }).click();
    await page.waitForURL(`${base}/payouts`);
    await waitForHydration(page);
    assert.match(await text(page, '.empty'), /No payout runs yet/);
    await page.click('#create-run-button');
    await page.waitForURL(/\/payouts\/pay_/);
    await waitForHydration(page);
    await page.locator('#statements-table').waitFor();
    assert.deepEqual(await cells(page, '#statements-table tbody tr td'), ['partner_1', '—', 'USD', '16.00 USD', '2']);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#run-csv')]);
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'partner_key,partner_name,partner_email,currency,amount,entries,payout_id');
    assert.match(csv[1], /^partner_1,.*,USD,16\.00,2,pay_/);
    await screenshot(page, 'payout-draft-desktop');

    await page.fill('#run-reference-input', 'WIRE-2026-12');
    await page.click('#mark-paid');
    await page.click('#confirm-paid');
    await page.locator('h1 .badge', { hasText: 'paid' }).waitFor();
    assert.equal(await text(page, '#run-reference'), 'WIRE-2026-12');
    assert.equal(await page.locator('#mark-paid').count(), 0, 'a paid run cannot be paid again');
    await screenshot(page, 'payout-paid-desktop');

    // The partner's balance now reads paid.
    await open(page, `${base}/partners/partner_1`);
    await page.locator('#balance-table').waitFor();
    assert.deepEqual(await cells(page, '#balance-table tbody tr :is(th, td)'), ['USD', '0.00 USD', '0.00 USD', '16.00 USD', '0.00 USD']);
    assert.equal(await page.locator('#entries-table .status-paid').count(), 2);

    // Phone width: the same pages, without sideways scrolling of the page itself.
    const phone = await newPage(browser, { base, viewport: PHONE });
    await phone.context().addCookies(await page.context().cookies());
    for (const [name, path] of [
      ['commissions-settings', '/settings/commissions'],
      ['partner', '/partners/partner_1'],
      ['payouts', '/payouts'],
    ]) {
      await open(phone, `${base}${path}`);
      await phone.locator('main h1').waitFor();
      const wide = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      assert.equal(wide, false, `${path} scrolls sideways at phone width`);
      await screenshot(phone, `${name}-phone`);
    }
    await open(page, `${base}/payouts`);
    await screenshot(page, 'payouts-desktop');
    assert.deepEqual(page.errors, []);
    assert.deepEqual(phone.errors, []);
  });
});

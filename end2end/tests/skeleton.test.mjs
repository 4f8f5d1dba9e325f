// Walking skeleton: the server renders pages, the wasm bundle hydrates them (event handlers
// work), and server functions make the round trip from the browser to the server and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withApp, newPage, waitForHydration, signUp } from './harness.mjs';

test('a signed-in page hydrates and a server function round-trips from the browser', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    await signUp(page, base, 'Skeleton Co');

    // Hydration: the "Add customer" button only toggles its form once the bundle is running.
    await page.goto(`${base}/customers`);
    await waitForHydration(page);
    const toggle = page.locator('.toolbar button', { hasText: 'Add customer' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('#c-key').count(), 0, 'the add-customer form is hidden before the click');
    await toggle.click();
    await page.locator('#c-key').waitFor({ state: 'visible' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    assert.equal(await page.locator('section.card h2', { hasText: 'Add a customer' }).count(), 1);

    // Server function round trip: "Send test event" calls /rpc/send_test_event.
    await page.goto(`${base}/settings/integrations/webhooks/chargebee`);
    await waitForHydration(page);
    await page.click('#send-test-event');
    const result = page.locator('#test-event-result');
    await result.filter({ hasText: 'recorded as' }).waitFor();
    const text = (await result.textContent()).trim();
    assert.match(text, /Test event arrived at .* and was recorded as ignored\./);
    // The link points at the stored event.
    const href = await result.locator('a').getAttribute('href');
    assert.match(href, /^\/events\/[^/]+$/);

    assert.deepEqual(page.errors, [], 'no uncaught errors in the browser');
  });
});

// The REST API's OpenAPI document, as served, passes a published OpenAPI 3.1 validator
// (@seriousme/openapi-schema-validator, against the specification's own JSON Schema); the
// reference page, reached from Settings › API keys, renders it for people.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { withApp, newPage, signUp, screenshot } from './harness.mjs';
import { PHONE, open } from './chargebee.mjs';

test('the OpenAPI document validates and its reference page is linked from Settings › API keys', async () => {
  await withApp(async ({ browser, base }) => {
    const r = await fetch(`${base}/api/v1/openapi.json`);
    assert.equal(r.status, 200);
    const doc = await r.json();
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result.errors ?? [], [], 'the published validator finds no errors');
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');

    const page = await newPage(browser, { base });
    await signUp(page, base, 'Reference Co');
    await open(page, `${base}/settings/api-keys`);
    await page.click('#api-reference-link');
    await page.waitForURL(`${base}/settings/api-keys/reference`);
    await page.locator('#schemas').waitFor();
    // Every operation of the document is on the page.
    const headings = (await page.locator('.api-operation h3').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m)).map((m) => `${m.toUpperCase()} /api/v1${path}`));
    assert.deepEqual([...headings].sort(), [...operations].sort());
    // A shape is linked from where it is used.
    await page.locator('a[href="#schema-CommissionPageResponse"]').first().click();
    assert.match(page.url(), /#schema-CommissionPageResponse$/);
    await screenshot(page, 'api-reference-desktop');
    await page.setViewportSize(PHONE);
    await open(page, `${base}/settings/api-keys/reference`);
    await screenshot(page, 'api-reference-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the reference is ${overflow}px wider than a phone`);
    assert.deepEqual(page.errors, []);
  });
});

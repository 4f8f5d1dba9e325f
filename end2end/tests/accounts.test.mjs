// Accounts: sign up, sign out, sign in, protected pages, invites and the viewer role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withApp, newPage, waitForHydration, signUp } from './harness.mjs';

async function signIn(page, base, email, password) {
  await page.goto(`${base}/login`);
  await waitForHydration(page);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
}

test('an owner signs out, is sent to the sign-in page while signed out, and signs back in', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    const { email, password } = await signUp(page, base, 'Accounts Co');
    await waitForHydration(page);
    // Signed in: the top bar names the user and the role.
    assert.ok((await page.locator('.topbar .who').textContent()).includes(email), 'the top bar names the signed-in user');
    assert.match(await page.locator('.topbar .who .badge').textContent(), /owner/);

    await page.click('#logout');
    await page.waitForURL(`${base}/login`);
    await page.locator('#login-form').waitFor();
    assert.equal(await page.locator('#logout').count(), 0, 'no sign-out button once signed out');

    // Every protected page sends a signed-out visitor to /login, and back afterwards.
    for (const path of ['/', '/customers', '/settings/team']) {
      const response = await page.goto(`${base}${path}`);
      const url = new URL(page.url());
      assert.equal(url.pathname, '/login', path);
      assert.equal(url.searchParams.get('next'), path, path);
      assert.equal(response.status(), 200, 'the sign-in page itself, after a real redirect');
      await page.locator('#login-form').waitFor();
    }
    await waitForHydration(page);
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.click('#login-form button[type=submit]');
    await page.waitForURL(`${base}/settings/team`);
    await page.locator('h1', { hasText: 'Team' }).waitFor();

    await page.click('#logout');
    await page.waitForURL(`${base}/login`);
    await signIn(page, base, email, password);
    await page.waitForURL(`${base}/`);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    assert.ok((await page.locator('.topbar .who').textContent()).includes(email), 'the top bar names the signed-in user');
    assert.deepEqual(page.errors, []);
  });
});

test('a wrong password on the sign-in page shows "Invalid email or password."', async () => {
  await withApp(async ({ browser, base }) => {
    const page = await newPage(browser, { base });
    const { email } = await signUp(page, base, 'Wrong Password Co');
    await page.click('#logout');
    await page.waitForURL(`${base}/login`);

    await signIn(page, base, email, 'not the right password');
    const alert = page.locator('#login-form .error[role=alert]');
    await alert.waitFor();
    assert.equal((await alert.textContent()).trim(), 'Invalid email or password.');
    assert.equal(new URL(page.url()).pathname, '/login', 'stays on the sign-in page');
    assert.equal(await page.locator('#logout').count(), 0, 'not signed in');
    assert.deepEqual(page.errors, []);
  });
});

test('an invited viewer joins through the one-time link and cannot change plans', async () => {
  await withApp(async ({ browser, base }) => {
    const owner = await newPage(browser, { base });
    await signUp(owner, base, 'Invite Co');

    await owner.goto(`${base}/settings/team`);
    await waitForHydration(owner);
    const viewerEmail = `viewer-${Date.now()}@example.com`;
    await owner.fill('#invite-email', viewerEmail);
    await owner.selectOption('#invite-role', 'viewer');
    await owner.click('#invite-form button[type=submit]');
    const linkInput = owner.locator('#invite-link');
    await linkInput.waitFor();
    const link = await linkInput.inputValue();
    assert.match(link, new RegExp(`^${base.replace(/[.]/g, '\\.')}/invite/[^/]+$`));
    // The invite is listed as pending.
    await owner.locator('.card', { hasText: 'Pending invites' }).locator('li', { hasText: viewerEmail }).waitFor();

    // A fresh browser context: no session cookie from the owner.
    const viewer = await newPage(browser, { base });
    await viewer.goto(link);
    await waitForHydration(viewer);
    await viewer.locator('main', { hasText: 'You were invited as viewer' }).waitFor();
    await viewer.fill('#password', 'viewer password 123');
    await viewer.click('button:has-text("Join")');
    await viewer.waitForURL(`${base}/`);
    await viewer.locator('.topbar .who', { hasText: viewerEmail }).waitFor();
    assert.match(await viewer.locator('.topbar .who .badge').textContent(), /viewer/);

    // The plans page is read-only for viewers.
    await viewer.goto(`${base}/plans`);
    await waitForHydration(viewer);
    await viewer.locator('h2', { hasText: 'Your plans' }).waitFor();
    assert.equal(await viewer.locator('#add-plan-form').count(), 0, 'viewers get no add-plan form');

    // The server refuses, too, whatever the page shows.
    const [status, body] = await viewer.evaluate(() =>
      fetch('/rpc/create_plan', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'key=x&name=y',
      }).then(async (r) => [r.status, await r.text()]));
    assert.equal(status, 403, `expected 403, got ${status}: ${body}`);
    const error = JSON.parse(body);
    assert.ok('Forbidden' in error, `expected a Forbidden error, got ${body}`);
    assert.match(error.Forbidden, /viewer/);

    // The plan was not created.
    await owner.goto(`${base}/plans`);
    await waitForHydration(owner);
    await owner.locator('h2', { hasText: 'Your plans' }).waitFor();
    assert.equal(await owner.locator('#plan-x').count(), 0);

    // The one-time link does not work twice.
    const again = await newPage(browser, { base });
    await again.goto(link);
    await again.locator('.error[role=alert]', { hasText: 'This invite link is not valid' }).waitFor();

    assert.deepEqual(owner.errors, []);
    assert.deepEqual(viewer.errors, []);
  });
});

test('an invite for an existing account is joined by signing in, never with a password on the invite page', async () => {
  await withApp(async ({ browser, base }) => {
    const owner = await newPage(browser, { base });
    await signUp(owner, base, 'Inviting Co');
    const other = await newPage(browser, { base });
    const existing = await signUp(other, base, 'Own Co');

    await owner.goto(`${base}/settings/team`);
    await waitForHydration(owner);
    await owner.fill('#invite-email', existing.email);
    await owner.selectOption('#invite-role', 'admin');
    await owner.click('#invite-form button[type=submit]');
    const linkInput = owner.locator('#invite-link');
    await linkInput.waitFor();
    const link = await linkInput.inputValue();

    // Signed out, the page offers a sign-in link for existing accounts; it says nothing about
    // whether this address has one.
    const visitor = await newPage(browser, { base });
    await visitor.goto(link);
    await waitForHydration(visitor);
    await visitor.locator('a', { hasText: 'Sign in' }).click();
    await visitor.waitForURL(/\/login\?next=/);
    await waitForHydration(visitor);
    await visitor.fill('#email', existing.email);
    await visitor.fill('#password', existing.password);
    await visitor.click('#login-form button[type=submit]');
    // Back on the invite, signed in: one "Join" button and no password field.
    await visitor.waitForURL(link);
    await waitForHydration(visitor);
    await visitor.locator('main', { hasText: `You are signed in as ${existing.email}` }).waitFor();
    assert.equal(await visitor.locator('#password').count(), 0);
    await visitor.click('button:has-text("Join")');
    await visitor.waitForURL(`${base}/`);
    await visitor.locator('.topbar .who', { hasText: existing.email }).waitFor();
    assert.match(await visitor.locator('.topbar .who .badge').textContent(), /admin/);

    assert.deepEqual(owner.errors, []);
    assert.deepEqual(visitor.errors, []);
  });
});

// Shared harness for the browser tests: starts the real server binary on a free port with a
// fresh SQLite database, and launches Debian's headless Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
export const BIN = process.env.PL_BIN || join(root, 'target', 'debug', 'partner-ledger');
export const SITE_ROOT = process.env.PL_SITE_ROOT || join(root, 'target', 'site');
export const SCREENSHOTS = process.env.PL_SCREENSHOTS || join(root, 'end2end', 'artifacts', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Starts a server; resolves once it printed the URL it listens on (no sleeps). */
export async function startServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pl-e2e-'));
  const child = spawn(BIN, [], {
    cwd: dir,
    env: {
      ...process.env,
      LISTEN_ADDR: '127.0.0.1:0',
      DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}`,
      SECRET_KEY: 'e2e-secret-key-that-is-long-enough-0123456789',
      SITE_ROOT,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const base = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start in 60 s: ${stderr}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/open (http:\/\/\S+) in your browser/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`server exited with ${code}: ${stderr}`)); });
  });
  return {
    base,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) {
        rmSync(dir, { recursive: true, force: true });
        return;
      }
      const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
      child.kill('SIGTERM');
      // A server that does not stop within 20 s is a failure to report, not to wait on.
      let timer;
      const late = new Promise((ok) => { timer = setTimeout(() => ok(null), 20_000); });
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (result === null) {
        child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`the server did not stop within 20 s of SIGTERM: ${stderr}`);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    stderr: () => stderr,
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Starts a server and a browser for one test, and always stops both. */
export async function withApp(fn) {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    await fn({ server, browser, base: server.base });
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** A page that fails the test on uncaught errors in the browser. */
export async function newPage(browser, { base, viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  if (base) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}

/** Resolves once the wasm bundle has hydrated the page. */
export async function waitForHydration(page) {
  await page.waitForFunction(() => document.body && document.body.dataset.hydrated === 'true', null, { timeout: 30_000 });
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs up a new organization through the UI; returns its owner's credentials. */
export async function signUp(page, base, org = 'Acme Inc') {
  const email = `owner-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = 'correct horse battery';
  await page.goto(`${base}/signup`);
  await waitForHydration(page);
  await page.fill('#organization', org);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${base}/`);
  return { email, password };
}

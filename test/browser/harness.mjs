// The browser tests' harness: a real mosquitto with the built plugin on free
// ports in a directory of its own, accounts and devices provisioned with
// rs1ctl, a fleet of simulated devices (rs1-sim fleet, real MQTT clients),
// and Debian's chromium driven by playwright-core. ctest passes the paths in
// the environment (test/browser/CMakeLists.txt); nothing is downloaded.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the browser tests through ctest)`);
  return value;
};

export const paths = {
  plugin: () => env('RS1_PLUGIN_PATH'),
  rs1ctl: () => env('RS1CTL_PATH'),
  rs1sim: () => env('RS1SIM_PATH'),
  mosquitto: () => env('RS1_MOSQUITTO_BIN'),
  console: () => env('RS1_CONSOLE_DIR'),
  artifacts: () => env('RS1_ARTIFACTS_DIR'),
  chromium: () => process.env.RS1_CHROMIUM || '/usr/bin/chromium',
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `check` (sync or async) until it returns a truthy value; fails the
// test with `what` after `timeoutMs`.
export async function waitFor(what, check, timeoutMs = 10000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                      (last ? ` (last error: ${last.message})` : ''));
    }
    await sleep(everyMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// One broker with the plugin: MQTT and HTTP on free ports, its database in a
// fresh directory, an admin account `admin` (and a service account
// `viewer`), `devices` provisioned devices rs1-dev-001… (their secrets in
// broker.devices). Call broker.stop() at the end.
export async function startBroker({ devices = 0, pluginOptions = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'rs1-browser-'));
  const db = join(dir, 'rs1.db');
  const ctl = (...args) =>
    execFileSync(paths.rs1ctl(), ['--db', db, ...args], { encoding: 'utf8' });
  const ctlJson = (...args) => JSON.parse(ctl(...args, '--json'));
  ctl('init');
  const admin = { username: 'admin', password: ctlJson('account', 'add', 'admin', '--role', 'admin').password };
  const viewer = { username: 'viewer', password: ctlJson('account', 'add', 'viewer', '--role', 'service').password };
  const provisioned = [];
  for (let i = 1; i <= devices; ++i) {
    const id = `rs1-dev-${String(i).padStart(3, '0')}`;
    provisioned.push(ctlJson('device', 'add', id));
  }
  const devicesFile = join(dir, 'devices.json');
  writeFileSync(devicesFile, JSON.stringify(provisioned));

  for (let attempt = 1; ; ++attempt) {
    const mqttPort = await freePort();
    const httpPort = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    // Signed firmware URLs point at this broker's own listener.
    const options = { db_path: db, http_listen: `127.0.0.1:${httpPort}`,
                      ota_base_url: `http://127.0.0.1:${httpPort}`,
                      console_dir: paths.console(), ...pluginOptions };
    writeFileSync(conf, [
      'per_listener_settings false', 'allow_anonymous false', 'persistence false',
      'log_dest stderr', 'log_type all', `listener ${mqttPort} 127.0.0.1`,
      ...(process.getuid() === 0 ? ['user root'] : []),
      `plugin ${paths.plugin()}`,
      ...Object.entries(options).map(([k, v]) => `plugin_opt_${k} ${v}`), ''].join('\n'));
    const childEnv = { ...process.env };
    // Under the sanitizers the plugin is instrumented and mosquitto is not
    // (see RS1_ASAN_RUNTIME in the top-level CMakeLists.txt).
    if (process.env.RS1_BROKER_PRELOAD) {
      childEnv.LD_PRELOAD = process.env.RS1_BROKER_PRELOAD;
      childEnv.ASAN_OPTIONS = 'detect_leaks=0:abort_on_error=0';
    }
    const child = spawn(paths.mosquitto(), ['-c', conf], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (chunk) => { log += chunk; });
    let exited = null;
    child.on('exit', (code, signal) => { exited = { code, signal }; });
    const base = `http://127.0.0.1:${httpPort}`;
    const up = await waitFor('the broker to serve HTTP', async () => {
      if (exited) return 'exited';
      const res = await fetch(`${base}/healthz`).catch(() => null);
      return res ? 'up' : null;
    }, 15000).catch((err) => err);
    if (up === 'up') {
      const broker = {
        dir, db, base, mqttPort, httpPort, admin, viewer, devices: provisioned, devicesFile,
        ctl, ctlJson, log: () => log,
        async stop() {
          if (!exited) {
            child.kill('SIGTERM');
            await waitFor('mosquitto to exit', () => exited, 15000);
          }
          if (exited.code !== 0) throw new Error(`mosquitto exited ${JSON.stringify(exited)}; log:\n${log}`);
          assert.doesNotMatch(log, /AddressSanitizer|runtime error:/, 'sanitizer report in the broker log');
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return broker;
    }
    child.kill('SIGKILL');
    // Another process may have taken a port between freePort() and bind.
    if (attempt >= 3 || !/Address already in use|could not bind/i.test(log)) {
      throw new Error(`mosquitto did not start (${up}); log:\n${log}`);
    }
  }
}

// The API as a client other than the browser: a bearer token of `account`.
export async function apiClient(broker, account = broker.admin) {
  const res = await fetch(`${broker.base}/api/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(account),
  });
  assert.equal(res.status, 200, `sign-in of ${account.username}`);
  const { token } = await res.json();
  const call = async (method, path, body, headers = {}) => {
    const r = await fetch(`${broker.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`,
                 ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, data: text ? JSON.parse(text) : null };
  };
  return { token, call, get: (path) => call('GET', path) };
}

// rs1-sim fleet with the broker's devices (or `devicesFile`): real MQTT
// clients that log in, report state and telemetry, apply zone configs
// (answering config/status) and take OTA updates. stop() ends it and
// resolves to its JSON summary.
export function startFleet(broker, { telemetryPerMin = 30, firmwareVersion = '1.0.0',
                                     devicesFile = broker.devicesFile } = {}) {
  const child = spawn(paths.rs1sim(), [
    'fleet', '--devices', devicesFile, '--port', String(broker.mqttPort),
    '--telemetry-per-min', String(telemetryPerMin), '--firmware-version', firmwareVersion,
    '--status-every', '3600', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  return {
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await waitFor('rs1-sim fleet to exit', () => exited, 15000);
      if (exited.code !== 0) throw new Error(`rs1-sim fleet exited ${JSON.stringify(exited)}: ${err}`);
      return JSON.parse(out);
    },
  };
}

// A chromium page on the console. Every console message of type error and
// every uncaught exception is recorded: page.assertNoErrors() fails on any.
export async function openBrowser({ viewport = { width: 1280, height: 800 } } = {}) {
  const browser = await chromium.launch({
    executablePath: paths.chromium(),
    // As root (CI), chromium refuses to start with its sandbox.
    args: process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
  const newPage = async (opts = {}) => {
    const context = await browser.newContext({ viewport: opts.viewport || viewport });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.errors = errors;
    // A failed request the page made on purpose (a 412 the test provokes)
    // logs an error in chromium's console too; tests name those they expect.
    page.assertNoErrors = (allowed = []) => {
      const unexpected = errors.filter((e) => !allowed.some((re) => re.test(e)));
      assert.deepEqual(unexpected, [], 'errors in the browser console');
    };
    return page;
  };
  return { browser, newPage, close: () => browser.close() };
}

// Signs in through the form and waits for the overview.
export async function signIn(page, broker, account = broker.admin) {
  await page.goto(`${broker.base}/`);
  await page.getByTestId('signin-username').fill(account.username);
  await page.getByTestId('signin-password').fill(account.password);
  await page.getByTestId('signin-submit').click();
  // Attached, not visible: on a phone the navigation is behind its menu button.
  await page.getByTestId('nav-overview').waitFor({ state: 'attached' });
}

// A full-page screenshot under build/ for a person to look at.
export async function screenshot(page, name) {
  mkdirSync(paths.artifacts(), { recursive: true });
  const file = join(paths.artifacts(), `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// A minimal runner: test(name, fn) registers, run() executes them in order,
// prints one line each and exits non-zero when any failed.
const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }
export async function run() {
  const only = process.env.RS1_BROWSER_TEST_FILTER;
  let failed = 0;
  for (const t of tests) {
    if (only && !t.name.includes(only)) continue;
    const started = Date.now();
    try {
      await t.fn();
      console.log(`ok   ${t.name} (${Date.now() - started} ms)`);
    } catch (err) {
      ++failed;
      console.log(`FAIL ${t.name} (${Date.now() - started} ms)\n${err.stack || err}`);
    }
  }
  console.log(failed ? `${failed} of ${tests.length} failed` : `all ${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}

export { readFileSync, existsSync, assert };

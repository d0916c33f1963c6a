// The console's shell and pages (all but the zone editor) in a real browser
// against a real broker with simulated devices: sign-in and sign-out, the
// overview's counts against GET /api/v1/fleet, the device list with its
// live online dots and search, a firmware upload and a rollout whose
// progress bar moves to the end, and the device list's paging. Every check
// reads what a user sees on the page.
import { test, run, startBroker, startFleet, apiClient, openBrowser, signIn, waitFor, screenshot, assert } from './harness.mjs';

// Starts what a test needs and always stops it again, failures included.
async function withSetup({ devices = 0, pluginOptions, viewport } = {}, fn) {
  const broker = await startBroker({ devices, pluginOptions });
  const browser = await openBrowser(viewport ? { viewport } : {});
  const stops = [];
  try {
    await fn({ broker, browser, stops });
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.log(`cleanup: ${err.message}`));
    await browser.close();
    await broker.stop();
  }
}

const text = async (locator) => (await locator.textContent()).trim();

async function counts(page) {
  const out = {};
  for (const k of ['total', 'online', 'offline', 'never_seen', 'revoked']) {
    out[k] = Number(await text(page.getByTestId(`count-${k}`)));
  }
  return out;
}

async function dots(page) {
  return page.getByTestId('device-row').evaluateAll((rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.deviceId, r.querySelector('[data-testid=online-dot]').dataset.online])),
  );
}

test('sign in with a wrong password shows the problem, with the right one the overview and role', async () => {
  await withSetup({}, async ({ broker, browser }) => {
    const page = await browser.newPage();
    await page.goto(`${broker.base}/`);
    await page.getByTestId('signin-username').fill('admin');
    await page.getByTestId('signin-password').fill('not-the-password');
    await page.getByTestId('signin-submit').click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await text(alert), /\S/, 'the 401 problem has a title');
    assert.ok(!(await page.getByTestId('nav-overview').isVisible()), 'not signed in');
    assert.ok(await page.getByTestId('signin-username').isVisible(), 'still on the sign-in page');

    await page.getByTestId('signin-password').fill(broker.admin.password);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('count-total').waitFor();
    assert.equal(new URL(page.url()).hash, '#/overview');
    assert.match(await text(page.getByTestId('session-role')), /admin \(admin\)/);
    assert.ok(await page.getByTestId('nav-security').isVisible(), 'an admin sees the security log');
    await screenshot(page, 'pages-overview-empty');
    // The refused sign-in logged its 401; nothing else may have.
    page.assertNoErrors([/401/]);
  });
});

test('a second tab opens signed in; sign out lands on sign-in and the session is gone', async () => {
  await withSetup({}, async ({ broker, browser }) => {
    const page = await browser.newPage();
    await signIn(page, broker);
    // Another tab of the same browser: the cookie signs it in, no form.
    const tab = await page.context().newPage();
    await tab.goto(`${broker.base}/#/devices`);
    await tab.getByRole('heading', { level: 1, name: 'Devices' }).waitFor();
    assert.match(await text(tab.getByTestId('session-role')), /^admin \(admin\)$/);
    await tab.close();
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-username').waitFor();
    assert.equal(new URL(page.url()).hash, '#/signin');
    assert.ok(!(await page.getByTestId('nav-overview').isVisible()), 'the navigation is hidden');
    // A page of the app now asks for sign-in again rather than showing data.
    await page.goto(`${broker.base}/#/devices`);
    await page.getByTestId('signin-username').waitFor();
    assert.equal(await page.getByTestId('device-row').count(), 0);
    page.assertNoErrors();
  });
});

test('on a phone the navigation folds behind Menu', async () => {
  await withSetup({ devices: 2, viewport: { width: 390, height: 844 } }, async ({ broker, browser }) => {
    const page = await browser.newPage();
    await page.goto(`${broker.base}/`);
    await page.getByTestId('signin-username').fill(broker.admin.username);
    await page.getByTestId('signin-password').fill(broker.admin.password);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('count-total').waitFor();
    const menu = page.getByRole('button', { name: 'Menu' });
    assert.ok(!(await page.getByTestId('nav-devices').isVisible()), 'folded at first');
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    await menu.click();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    await page.getByTestId('nav-devices').click();
    await waitFor('two device rows', async () => (await page.getByTestId('device-row').count()) === 2);
    assert.ok(!(await page.getByTestId('nav-devices').isVisible()), 'folded again after choosing a page');
    // Nothing wider than the phone: no sideways scrolling of the page.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal overflow');
    await screenshot(page, 'pages-devices-phone');
    await menu.click();
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-username').waitFor();
    page.assertNoErrors();
  });
});

test('a service account sees no admin controls', async () => {
  await withSetup({ devices: 1 }, async ({ broker, browser }) => {
    const page = await browser.newPage();
    await signIn(page, broker, broker.viewer);
    assert.match(await text(page.getByTestId('session-role')), /\(service\)/);
    assert.ok(!(await page.getByTestId('nav-security').isVisible()), 'no security log for service');
    await page.getByTestId('nav-firmware').click();
    await page.getByRole('heading', { name: 'Images' }).waitFor();
    assert.equal(await page.getByTestId('firmware-upload').count(), 0, 'no upload form');
    await page.getByTestId('nav-rollouts').click();
    await page.getByRole('heading', { name: 'All rollouts' }).waitFor();
    assert.equal(await page.getByTestId('rollout-create').count(), 0, 'no create form');
    await page.goto(`${broker.base}/#/devices/rs1-dev-001`);
    await page.getByTestId('device-status').waitFor();
    assert.equal(await page.getByTestId('device-revoke').count(), 0, 'no revoke button');
    page.assertNoErrors();
  });
});

test('the overview counts equal GET /api/v1/fleet and follow the fleet live', async () => {
  await withSetup({ devices: 4 }, async ({ broker, browser, stops }) => {
    const api = await apiClient(broker);
    assert.equal((await api.call('POST', '/api/v1/devices/rs1-dev-004/revoke')).status, 200);
    const page = await browser.newPage();
    await signIn(page, broker);
    const fleet = async () => (await api.get('/api/v1/fleet')).data.devices;
    assert.deepEqual(await counts(page), await fleet(), 'before any device connects');
    assert.deepEqual(await counts(page), { total: 4, online: 0, offline: 0, never_seen: 3, revoked: 1 });

    const sim = startFleet(broker); // the revoked device is refused, the others log in
    stops.push(() => sim.stop());
    await waitFor('three devices online on the page', async () => (await counts(page)).online === 3, 20000);
    const shown = await counts(page);
    assert.deepEqual(shown, await fleet(), 'after the devices connected, without a reload');
    assert.deepEqual(shown, { total: 4, online: 3, offline: 0, never_seen: 0, revoked: 1 });

    // The firmware distribution: one slice for what the devices report,
    // linking to the device list filtered to that version.
    const slice = page.locator('[data-testid=fw-slice][data-version="1.0.0"]');
    await slice.waitFor();
    await screenshot(page, 'pages-overview-live');
    await slice.click();
    await waitFor('the list of devices on 1.0.0', async () => (await page.getByTestId('device-row').count()) === 3);
    assert.match(new URL(page.url()).hash, /^#\/devices\?firmware=1\.0\.0$/);
    page.assertNoErrors();
  });
});

test('the device list shows the devices and an online dot turns on when a device connects', async () => {
  await withSetup({ devices: 3 }, async ({ broker, browser, stops }) => {
    const page = await browser.newPage();
    await signIn(page, broker);
    await page.getByTestId('nav-devices').click();
    await waitFor('three device rows', async () => (await page.getByTestId('device-row').count()) === 3);
    assert.deepEqual(await dots(page), { 'rs1-dev-001': 'false', 'rs1-dev-002': 'false', 'rs1-dev-003': 'false' });
    // Marks this document: a reload would lose it, so the dots below must
    // come from presence events, not from loading the page again.
    await page.evaluate(() => { window.rs1TestMark = true; });

    const sim = startFleet(broker);
    stops.push(() => sim.stop());
    await waitFor('every dot on', async () => Object.values(await dots(page)).every((v) => v === 'true'), 20000);
    assert.equal(await page.evaluate(() => window.rs1TestMark), true, 'no reload');
    const row = page.locator('[data-testid=device-row][data-device-id=rs1-dev-002]');
    assert.match(await text(row), /online/);
    await screenshot(page, 'pages-devices-online');

    // Search (debounced q): one device left, then all three again.
    await page.getByTestId('device-search').fill('dev-002');
    await waitFor('only rs1-dev-002', async () => {
      const ids = Object.keys(await dots(page));
      return ids.length === 1 && ids[0] === 'rs1-dev-002';
    });
    await page.getByTestId('device-search').fill('');
    await waitFor('three rows again', async () => (await page.getByTestId('device-row').count()) === 3);

    // The device page: state from the device, a link to the zone editor.
    await page.locator('[data-testid=device-row][data-device-id=rs1-dev-001] a').click();
    await page.getByTestId('device-state').waitFor();
    assert.match(await text(page.getByTestId('device-state')), /"firmware_version": "1\.0\.0"/);
    assert.equal(await page.getByTestId('device-zones').getAttribute('href'), '#/devices/rs1-dev-001/zones');
    await waitFor('a telemetry chart', async () => (await page.getByTestId('telemetry-chart').count()) > 0, 20000);
    assert.ok(await page.locator('[data-testid=telemetry-chart][data-field=temp_c]').count(), 'a chart of temp_c');
    // Over 24 h the charts come from the hourly aggregates (there are none
    // unless an hour has completed meanwhile); then back to the live hour.
    await page.getByTestId('telemetry-range').selectOption('7d');
    await waitFor('the hourly answer', async () => /hourly/i.test(await text(page.locator('.chart-status'))));
    await page.getByTestId('telemetry-range').selectOption('1h');
    await waitFor('the live charts again', async () => (await page.getByTestId('telemetry-chart').count()) > 0);

    // Diagnostics: the device's answer comes back as formatted JSON.
    await page.getByTestId('diag-submit').click();
    const answer = page.getByTestId('diag-answer');
    await answer.waitFor({ timeout: 20000 });
    const shown = JSON.parse(await text(answer));
    assert.deepEqual(shown.what, ['wifi', 'uptime']);
    assert.match(shown.request_id, /^[0-9a-f]{32}$/);
    await screenshot(page, 'pages-device');
    page.assertNoErrors();
  });
});

test('upload firmware, create a rollout and watch its progress bar reach the end', async () => {
  await withSetup({ devices: 3 }, async ({ broker, browser, stops }) => {
    const sim = startFleet(broker);
    stops.push(() => sim.stop());
    const page = await browser.newPage();
    await signIn(page, broker);
    await waitFor('three devices online', async () => Number(await text(page.getByTestId('count-online'))) === 3, 20000);

    await page.getByTestId('nav-firmware').click();
    await page.getByTestId('firmware-file').setInputFiles({
      name: 'rs1-2.0.0.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(256 * 1024, 7),
    });
    // The version is suggested from the file name.
    assert.equal(await page.getByTestId('firmware-version').inputValue(), '2.0.0');
    await page.getByTestId('firmware-upload').click();
    await page.locator('[data-testid=firmware-row][data-version="2.0.0"]').waitFor();
    assert.match(await text(page.locator('[data-testid=firmware-row][data-version="2.0.0"]')), /256 KiB/);

    await page.getByTestId('nav-rollouts').click();
    await page.locator('[data-testid=rollout-version] option[value="2.0.0"]').waitFor({ state: 'attached' });
    await page.getByTestId('rollout-version').selectOption('2.0.0');
    assert.ok(await page.getByTestId('rollout-all').isChecked(), 'all devices by default');
    await page.getByTestId('rollout-stages').fill('34,100');
    // Should a download fail after all, the rollout still ends (no retry, no
    // self-pause) and the assertions below say what went wrong.
    await page.getByTestId('rollout-retries').fill('0');
    await page.getByTestId('rollout-max-failure-rate').fill('1');
    await page.getByTestId('rollout-submit').click();
    await page.waitForURL(/#\/rollouts\/\d+$/);

    const bar = page.getByTestId('rollout-progress');
    await bar.waitFor();
    assert.equal(await bar.getAttribute('aria-valuemax'), '3');
    const seen = new Set();
    await waitFor('the rollout to complete', async () => {
      seen.add(await bar.getAttribute('aria-valuenow'));
      return (await text(page.getByTestId('rollout-status'))) === 'completed' &&
        (await bar.getAttribute('aria-valuenow')) === '3';
    }, 60000, 50).catch(async (err) => {
      await screenshot(page, 'pages-rollout-not-completed');
      throw err;
    });
    assert.ok(seen.size >= 2, `the bar moved (values seen: ${[...seen].join(', ')})`);
    const stages = await page.getByTestId('stage-bar').evaluateAll((bars) => bars.map((b) => `${b.dataset.done}/${b.dataset.size}`));
    assert.deepEqual(stages, ['2/2', '1/1'], 'stage 1 took ceil(34% of 3) = 2 devices');
    assert.equal(await page.getByTestId('rollout-pause').count(), 0, 'no pause for a completed rollout');
    assert.match(await text(page.locator('.status-bar-wrap .legend')), /^success 3$/);
    // The per-device table ends with each device's outcome.
    await waitFor('every device row a success', async () => {
      const statuses = await page.getByTestId('rollout-device-row').evaluateAll((rows) => rows.map((r) => r.dataset.status));
      return statuses.length === 3 && statuses.every((st) => st === 'success');
    }, 5000);
    // With the devices loaded, each stage's bar is split by its own devices' statuses.
    await waitFor('the stage bars split by status', async () => {
      const split = await page.getByTestId('stage-bar').evaluateAll((bars) => bars.map((b) =>
        `${b.dataset.split}:${[...b.querySelectorAll('.seg')].map((g) => `${g.dataset.status}=${g.dataset.count}`).join(',')}`));
      return JSON.stringify(split) === JSON.stringify(['status:success=2', 'status:success=1']);
    }, 5000);
    await screenshot(page, 'pages-rollout');

    // The rollout list shows it with the same bars.
    await page.getByTestId('nav-rollouts').click();
    const row = page.getByTestId('rollout-row').first();
    await row.waitFor();
    assert.equal(await text(row.getByTestId('rollout-status')), 'completed');
    page.assertNoErrors();
  });
});

test('the device list pages 1000 at a time: More adds the rest, a search finds one device', async () => {
  // The 10,000-device first render is measured, not tested:
  // test/browser/measure.mjs (docs/BENCHMARKS.md).
  await withSetup({ pluginOptions: { api_rate_limit_per_min: 0 } }, async ({ broker, browser }) => {
    const api = await apiClient(broker);
    const total = 1050;
    // Provisioned over the API, four at a time.
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < total) {
        const id = `bulk-${String(next++).padStart(5, '0')}`;
        const r = await api.call('POST', '/api/v1/devices', { device_id: id });
        assert.equal(r.status, 201, `provision ${id}`);
      }
    }));
    const page = await browser.newPage();
    await signIn(page, broker);
    await page.getByTestId('nav-devices').click();
    await waitFor('1000 rows', async () => (await page.getByTestId('device-row').count()) === 1000, 30000);
    assert.match(await text(page.getByTestId('device-summary')), /^1000 devices shown, more available$/);
    await page.getByTestId('device-more').click();
    await waitFor('1050 rows', async () => (await page.getByTestId('device-row').count()) === total, 30000);
    assert.match(await text(page.getByTestId('device-summary')), /^1050 devices shown$/);
    assert.equal(await page.getByTestId('device-more').isVisible(), false);
    await page.getByTestId('device-search').fill('bulk-01049');
    await waitFor('one row', async () => (await page.getByTestId('device-row').count()) === 1, 10000);
    assert.equal(await page.getByTestId('device-row').getAttribute('data-device-id'), 'bulk-01049');
    page.assertNoErrors();
  });
});

test('every page opens from the navigation with its heading and no error; screenshots of each', async () => {
  await withSetup({ devices: 2 }, async ({ broker, browser }) => {
    const page = await browser.newPage();
    await page.goto(`${broker.base}/`);
    await page.getByTestId('signin-username').waitFor();
    await screenshot(page, 'pages-signin');
    await signIn(page, broker);
    // A security event to list: the refused sign-in's admin_api_access entry.
    const refused = await fetch(`${broker.base}/api/v1/session`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'wrong' }),
    });
    assert.equal(refused.status, 401);
    for (const [nav, heading, shot] of [['nav-devices', 'Devices', 'pages-devices'],
                                        ['nav-firmware', 'Firmware', 'pages-firmware'],
                                        ['nav-rollouts', 'Rollouts', 'pages-rollouts'],
                                        ['nav-security', 'Security log', 'pages-security'],
                                        ['nav-overview', 'Fleet overview', 'pages-overview']]) {
      await page.getByTestId(nav).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      if (nav === 'nav-security') await page.locator('[data-testid=security-row][data-type=admin_api_access]').first().waitFor();
      await screenshot(page, shot);
    }
    page.assertNoErrors();
  });
});

await run();

// The zone editor in a real browser against a real broker: a zone drawn
// with mouse clicks is saved, reaches the device on config/update and turns
// "applied" when the device says so (and "rejected" with the device's
// reason); a bow-tie is refused before any request; a concurrent edit makes
// the save get 412 and the reload shows the other edit; the rules give the
// server's own messages. The device is mosquitto_sub/mosquitto_pub logged in
// with the device's HMAC password, so the test sees the exact payload.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { test, run, startBroker, apiClient, openBrowser, signIn, waitFor, screenshot, assert } from './harness.mjs';

const MQTT_SUB = process.env.RS1_MOSQUITTO_SUB || 'mosquitto_sub';
const MQTT_PUB = process.env.RS1_MOSQUITTO_PUB || 'mosquitto_pub';

// The device's MQTT login for this hour (SPEC §4), from rs1ctl.
function deviceLogin(broker, device) {
  const { password } = broker.ctlJson('device', 'password', device.device_id, '--secret', device.secret);
  return ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-i', device.device_id, '-u', device.device_id, '-P', password];
}

// The config/update the device gets for `version`. The topic is retained,
// so an older version may come first: it is skipped.
function configUpdate(broker, device, version) {
  const child = spawn(MQTT_SUB, [...deviceLogin(broker, device), '-q', '1', '-W', '20',
    '-t', `opticworks/${device.device_id}/config/update`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const lines = out.split('\n');
      out = lines.pop();
      for (const line of lines) {
        const update = JSON.parse(line);
        if (update.version === version) {
          child.kill();
          resolve(update);
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`mosquitto_sub exited ${code} before version ${version}: ${err}`)));
  });
}

function reportConfigStatus(broker, device, report) {
  execFileSync(MQTT_PUB, [...deviceLogin(broker, device), '-q', '1',
    '-t', `opticworks/${device.device_id}/config/status`, '-m', JSON.stringify(report)]);
}

// Each test gets a broker with one device, and the browsers it launches;
// all are stopped at its end, whatever happened.
async function withBroker(fn) {
  const broker = await startBroker({ devices: 1, pluginOptions: { api_rate_limit_per_min: 0 } });
  const browsers = [];
  const launch = async () => {
    const browser = await openBrowser();
    browsers.push(browser);
    return browser;
  };
  try {
    await fn(broker, launch);
  } finally {
    for (const browser of browsers) await browser.close();
    await broker.stop();
  }
}

async function openEditor(broker, deviceId, launch) {
  const browser = await launch();
  const page = await browser.newPage();
  const zoneWrites = [];
  page.on('request', (r) => {
    if (r.url().includes('/zones') && r.method() !== 'GET') zoneWrites.push(`${r.method()} ${r.url()}`);
  });
  await signIn(page, broker);
  await page.goto(`${broker.base}/#/devices/${deviceId}/zones`);
  await page.getByTestId('zone-canvas').waitFor();
  await waitFor('the zones to load', async () => (await page.getByTestId('zone-status').textContent()) !== '…');
  return { page, zoneWrites };
}

// The page position of a field point (millimetres), from the SVG's own
// transform.
function screenPoint(page, [x, y]) {
  return page.getByTestId('zone-canvas').evaluate((svg, [mx, my]) => {
    const p = new DOMPoint(mx, -my).matrixTransform(svg.getScreenCTM());
    return [p.x, p.y];
  }, [x, y]);
}

// Draws a zone by clicking its corners, then the first one again.
async function drawZone(page, corners) {
  await page.getByTestId('zone-add').click();
  for (const corner of corners) await page.mouse.click(...(await screenPoint(page, corner)));
  await page.mouse.click(...(await screenPoint(page, corners[0])));
}

async function vertexTable(page) {
  const xs = await page.getByTestId('vertex-x').evaluateAll((els) => els.map((e) => Number(e.value)));
  const ys = await page.getByTestId('vertex-y').evaluateAll((els) => els.map((e) => Number(e.value)));
  return xs.map((x, i) => [x, ys[i]]);
}

// A click lands within a pixel of the corner: 1 px is under 20 mm at 1280 px.
function assertNear(points, expected, what) {
  assert.equal(points.length, expected.length, `${what}: ${JSON.stringify(points)}`);
  points.forEach(([x, y], i) => {
    assert.ok(Math.abs(x - expected[i][0]) <= 20 && Math.abs(y - expected[i][1]) <= 20,
      `${what}: point ${i} is ${x},${y}, expected about ${expected[i]}`);
  });
}

const statusText = (page) => page.getByTestId('zone-status').textContent();

test('a zone drawn with clicks is saved, reaches the device and turns applied', () => withBroker(async (broker, launch) => {
  const device = broker.devices[0];
  const { page, zoneWrites } = await openEditor(broker, device.device_id, launch);
  assert.equal(await statusText(page), 'no zones sent yet');
  assert.ok(await page.getByTestId('zone-save').isDisabled(), 'nothing to save yet');

  const corners = [[-2000, 1000], [2000, 1000], [2000, 4000], [-2000, 4000]];
  await drawZone(page, corners);
  const drawn = await vertexTable(page);
  assertNear(drawn, corners, 'the drawn zone');
  assert.equal(await page.getByTestId('zone-error').count(), 0, 'a rectangle breaks no rule');
  // An exclusion zone inside it is legal too.
  await drawZone(page, [[-500, 2000], [500, 2000], [0, 3000]]);
  await page.getByTestId('zone-type').selectOption('exclude');
  await page.getByTestId('zone-name').fill('Fan');
  assert.equal(await page.getByTestId('zone-error').count(), 0, 'an exclusion inside a detect zone is legal');
  const fan = await vertexTable(page);

  const received = configUpdate(broker, device, 1);
  await page.getByTestId('zone-save').click();
  await waitFor('version 1 to be shown', async () => (await page.getByTestId('zone-desired-version').textContent()) === '1');
  assert.equal(await statusText(page), 'pending');
  assert.deepEqual(zoneWrites, [`PUT ${broker.base}/api/v1/devices/${device.device_id}/zones`]);

  const update = await received;
  assert.equal(update.version, 1);
  assert.deepEqual(update.config.zones, [
    { id: 1, name: 'Zone 1', type: 'detect', points: drawn },
    { id: 2, name: 'Fan', type: 'exclude', points: fan },
  ]);

  reportConfigStatus(broker, device, { version: 1, status: 'applied' });
  await waitFor('the editor to say applied', async () => (await statusText(page)) === 'applied', 10000);
  assert.equal(await page.getByTestId('zone-applied-version').textContent(), '1');
  await page.getByTestId('zone-history').locator('[data-version="1"]').first().waitFor();
  await screenshot(page, 'zones-applied');

  // A second version the device refuses: "rejected" with its reason.
  await page.getByTestId('zone-name').fill('Ceiling fan');
  const second = configUpdate(broker, device, 2);
  await page.getByTestId('zone-save').click();
  assert.equal((await second).version, 2);
  reportConfigStatus(broker, device, { version: 2, status: 'rejected', error: 'zone 2 covers the door' });
  await waitFor('the editor to say rejected', async () => (await statusText(page)) === 'rejected: zone 2 covers the door', 10000);
  assert.equal(await page.getByTestId('zone-desired-version').textContent(), '2');
  assert.equal(await page.getByTestId('zone-applied-version').textContent(), '1');
  page.assertNoErrors();
}));

test('a bow-tie is refused on the drawing before any request', () => withBroker(async (broker, launch) => {
  const { page, zoneWrites } = await openEditor(broker, broker.devices[0].device_id, launch);
  await drawZone(page, [[-2000, 1000], [2000, 4000], [2000, 1000], [-2000, 4000]]);
  const error = page.getByTestId('zone-error');
  await error.first().waitFor();
  assert.equal(await error.count(), 1);
  assert.match(await error.textContent(), /the edge from point 0 to point 1 crosses the edge from point 2 to point 3/);
  assert.equal(await error.getAttribute('data-zone'), '0');
  assert.equal(await error.getAttribute('data-vertex'), '0');
  // The zone and the vertex are marked on the drawing.
  assert.equal(await page.locator('.zone-canvas .zone.has-error').count(), 1);
  assert.equal(await page.locator('.zone-canvas .vertex-error').count(), 1);
  const save = page.getByTestId('zone-save');
  assert.ok(await save.isDisabled(), 'Save is disabled while a rule is broken');
  await save.click({ force: true });
  await page.keyboard.press('Enter');
  await page.waitForTimeout(500);
  assert.deepEqual(zoneWrites, [], 'no zone request was sent');
  await screenshot(page, 'zones-bowtie');

  // Dragging a vertex across untangles it: the rule is met, Save is offered.
  const from = await screenPoint(page, [2000, 4000]);
  const to = await screenPoint(page, [2000, 1000]);
  const back = await screenPoint(page, [-2000, 1000]);
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move(...back, { steps: 5 });
  await page.mouse.move(...to, { steps: 5 });
  await page.mouse.up();
  // Points 1 and 2 now coincide: a different rule, at a different vertex.
  assert.match(await error.first().textContent(), /point 2 repeats point 1/);
  // Undo twice: the drag, then the zone itself.
  await page.keyboard.press('Control+z');
  assert.match(await error.first().textContent(), /crosses/);
  await page.keyboard.press('Control+z');
  assert.equal(await error.count(), 0);
  assert.equal(await page.getByTestId('zone-list-item').count(), 0);
  await page.keyboard.press('Control+Shift+z');
  assert.equal(await page.getByTestId('zone-list-item').count(), 1);
  assert.deepEqual(zoneWrites, []);
  page.assertNoErrors();
}));

test('on the drawing: keys while drawing, move a zone, insert and delete points; export, import', () => withBroker(async (broker, launch) => {
  const { page, zoneWrites } = await openEditor(broker, broker.devices[0].device_id, launch);
  // Backspace takes back the last point, Escape drops the drawing.
  await page.getByTestId('zone-add').click();
  await page.mouse.click(...(await screenPoint(page, [0, 1000])));
  await page.mouse.click(...(await screenPoint(page, [1000, 1000])));
  assert.equal(await page.locator('.zone-canvas .draft-vertex').count(), 2);
  await page.keyboard.press('Backspace');
  assert.equal(await page.locator('.zone-canvas .draft-vertex').count(), 1);
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('.zone-canvas .draft-vertex').count(), 0);
  assert.equal(await page.getByTestId('zone-list-item').count(), 0);

  // Enter finishes a drawing.
  await page.getByTestId('zone-add').click();
  for (const p of [[-1000, 1000], [1000, 1000], [0, 3000]]) await page.mouse.click(...(await screenPoint(page, p)));
  await page.keyboard.press('Enter');
  assert.equal(await page.getByTestId('zone-list-item').count(), 1);
  const drawn = await vertexTable(page);

  // Dragging the body moves every point by the same whole millimetres.
  const inside = await screenPoint(page, [0, 1500]);
  const moved = await screenPoint(page, [2000, 2500]);
  await page.mouse.move(...inside);
  await page.mouse.down();
  await page.mouse.move(...moved, { steps: 6 });
  await page.mouse.up();
  const after = await vertexTable(page);
  const [dx, dy] = [after[0][0] - drawn[0][0], after[0][1] - drawn[0][1]];
  assert.ok(Math.abs(dx - 2000) <= 20 && Math.abs(dy - 1000) <= 20, `moved by ${dx},${dy}`);
  assert.deepEqual(after, drawn.map(([x, y]) => [x + dx, y + dy]));

  // Clicking an edge's midpoint handle inserts a point there.
  await page.locator('.zone-canvas .midpoint').first().click();
  const inserted = await vertexTable(page);
  assert.equal(inserted.length, 4);
  assert.deepEqual(inserted[1], [Math.round((after[0][0] + after[1][0]) / 2), Math.round((after[0][1] + after[1][1]) / 2)]);
  // Selected, it goes again with the Delete key.
  await page.keyboard.press('Delete');
  assert.deepEqual(await vertexTable(page), after);

  // Typed coordinates move the point on the drawing; the rules follow.
  await page.getByTestId('vertex-x').first().fill('7000');
  const error = page.getByTestId('zone-error');
  assert.match(await error.textContent(), /x must be within -6000\.\.6000/);
  assert.equal(await error.getAttribute('data-vertex'), '0');
  await page.getByTestId('vertex-x').first().fill('-6000');
  assert.equal(await error.count(), 0);
  assert.equal(await page.locator('.zone-canvas .vertex').first().getAttribute('cx'), '-6000');
  await screenshot(page, 'zones-edited');

  // Export downloads the config being edited.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('zone-export').click()]);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.deepEqual(exported.zones[0].points, await vertexTable(page));

  // Import checks the rules before anything replaces the drawing.
  await page.locator('.zone-import summary').click();
  const bowtie = { zones: [{ id: 3, name: 'Bad', type: 'detect', points: [[0, 0], [900, 900], [900, 0], [0, 900]] }] };
  await page.getByTestId('zone-import-text').fill(JSON.stringify(bowtie));
  await page.getByTestId('zone-import-apply').click();
  assert.match(await page.getByTestId('zone-import-error').textContent(),
    /\/zones\/0\/points\/0: the edge from point 0 to point 1 crosses the edge from point 2 to point 3/);
  assert.equal((await page.getByTestId('zone-list-item').allTextContents()).join(), 'Zone 1 #1 detect');
  await page.getByTestId('zone-import').setInputFiles({
    name: 'zones.json', mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify({ zones: [{ ...bowtie.zones[0], points: [[0, 0], [900, 0], [900, 900], [0, 900]] }], sensitivity: 3 })),
  });
  await waitFor('the imported zone', async () => (await page.getByTestId('zone-list-item').allTextContents()).join() === 'Bad #3 detect');
  assert.equal(await page.getByTestId('zone-sensitivity').inputValue(), '3');
  // The import is an edit like any other: undo brings the drawing back.
  await page.getByTestId('zone-undo').click();
  assert.equal((await page.getByTestId('zone-list-item').allTextContents()).join(), 'Zone 1 #1 detect');
  assert.deepEqual(zoneWrites, []);
  page.assertNoErrors();
}));

test('a concurrent edit makes the save get 412, and reload shows the other edit', () => withBroker(async (broker, launch) => {
  const deviceId = broker.devices[0].device_id;
  const client = await apiClient(broker);
  const zonesPath = `/api/v1/devices/${deviceId}/zones`;
  const first = { zones: [{ id: 1, name: 'Sofa', type: 'detect', points: [[0, 500], [1000, 500], [500, 1500]] }] };
  assert.equal((await client.call('PUT', zonesPath, first, { 'If-Match': '"0"' })).status, 200);
  const { page } = await openEditor(broker, deviceId, launch);
  await page.getByTestId('zone-list-item').first().waitFor();
  await page.getByTestId('zone-list-item').first().click();
  await page.getByTestId('zone-name').fill('Sofa (mine)');

  // Someone else saves first, from the same version.
  const other = { zones: [{ id: 7, name: 'Desk', type: 'exclude', points: [[-3000, 3000], [-1000, 3000], [-1000, 5000]] }], sensitivity: 8 };
  assert.equal((await client.call('PUT', zonesPath, other, { 'If-Match': '"1"' })).status, 200);

  await page.getByTestId('zone-save').click();
  const reload = page.getByTestId('zone-reload');
  await reload.waitFor();
  assert.match(await page.locator('.zone-message').textContent(), /changed since it was read/);
  assert.match(await page.locator('.zone-message').textContent(), /Someone else changed these zones/);
  // Local changes are kept until the user agrees to discard them.
  assert.equal(await page.getByTestId('zone-name').inputValue(), 'Sofa (mine)');
  await reload.click();
  await page.getByTestId('confirm-ok').click();
  await waitFor('the other edit to be shown', async () =>
    (await page.getByTestId('zone-list-item').allTextContents()).join() === 'Desk #7 exclude');
  assert.equal(await page.getByTestId('zone-desired-version').textContent(), '2');
  assert.equal(await page.getByTestId('zone-sensitivity').inputValue(), '8');
  // And a save from there goes through, as version 3.
  await page.getByTestId('zone-list-item').first().click();
  await page.getByTestId('zone-name').fill('Desk 2');
  await page.getByTestId('zone-save').click();
  await waitFor('version 3', async () => (await page.getByTestId('zone-desired-version').textContent()) === '3');
  const saved = await client.get(zonesPath);
  assert.equal(saved.data.config.zones[0].name, 'Desk 2');
  // The 412 is the one failed request chromium reports.
  page.assertNoErrors([/status of 412/]);
}));

test('history lists the versions and rolls back; the editor works on a phone', () => withBroker(async (broker, launch) => {
  const deviceId = broker.devices[0].device_id;
  const client = await apiClient(broker);
  const zonesPath = `/api/v1/devices/${deviceId}/zones`;
  const v1 = { zones: [{ id: 1, name: 'Bed', type: 'detect', points: [[0, 500], [1000, 500], [500, 1500]] }] };
  const v2 = { zones: [{ id: 2, name: 'Door', type: 'exclude', points: [[-1000, 500], [0, 500], [-500, 1500]] }] };
  assert.equal((await client.call('PUT', zonesPath, v1, { 'If-Match': '"0"' })).status, 200);
  assert.equal((await client.call('PUT', zonesPath, v2, { 'If-Match': '"1"' })).status, 200);
  const { page } = await openEditor(broker, deviceId, launch);
  // Signed in at the desktop size (the phone's navigation is behind its
  // menu button), then on a phone's viewport.
  await page.setViewportSize({ width: 390, height: 844 });
  const entries = page.getByTestId('zone-history').locator('li');
  await waitFor('two versions', async () => (await entries.count()) === 2);
  assert.match(await entries.nth(0).textContent(), /v2/);
  assert.match(await entries.nth(1).textContent(), /v1/);
  // The drawing fits the phone's width.
  const box = await page.getByTestId('zone-canvas').boundingBox();
  assert.ok(box.width <= 390 && box.width > 300, `the drawing is ${box.width} px wide`);
  await screenshot(page, 'zones-phone');

  await page.getByTestId('zone-rollback').and(page.locator('[data-version="1"]')).click();
  await page.getByTestId('confirm-ok').click();
  await waitFor('version 3', async () => (await page.getByTestId('zone-desired-version').textContent()) === '3');
  assert.equal((await page.getByTestId('zone-list-item').allTextContents()).join(), 'Bed #1 detect');
  await waitFor('three versions', async () => (await entries.count()) === 3);
  const shown = await client.get(zonesPath);
  assert.deepEqual(shown.data.config, v1);
  page.assertNoErrors();
}));

test('a service account sees the zones and cannot change them', () => withBroker(async (broker, launch) => {
  const deviceId = broker.devices[0].device_id;
  const client = await apiClient(broker);
  const v1 = { zones: [{ id: 1, name: 'Bed', type: 'detect', points: [[0, 500], [1000, 500], [500, 1500]] }] };
  assert.equal((await client.call('PUT', `/api/v1/devices/${deviceId}/zones`, v1, { 'If-Match': '"0"' })).status, 200);
  const browser = await launch();
  const page = await browser.newPage();
  await signIn(page, broker, broker.viewer);
  await page.goto(`${broker.base}/#/devices/${deviceId}/zones`);
  await page.getByTestId('zone-list-item').first().click();
  assert.equal(await page.getByTestId('zone-status').textContent(), 'pending');
  assert.match(await page.locator('.zone-editor').textContent(), /service account: the zones can be viewed, not changed/);
  for (const id of ['zone-add', 'zone-save', 'zone-rollback', 'zone-name', 'zone-delete']) {
    assert.ok(await page.getByTestId(id).first().isDisabled(), `${id} is disabled`);
  }
  // Dragging a vertex changes nothing.
  const before = await vertexTable(page);
  await page.mouse.move(...(await screenPoint(page, before[0])));
  await page.mouse.down();
  await page.mouse.move(...(await screenPoint(page, [3000, 3000])), { steps: 4 });
  await page.mouse.up();
  assert.deepEqual(await vertexTable(page), before);
  page.assertNoErrors();
}));

test("the editor's rules give the server's messages (zone_rules.test.mjs against this broker)", () => withBroker(async (broker) => {
  const { token } = await apiClient(broker);
  const script = fileURLToPath(new URL('./zone_rules.test.mjs', import.meta.url));
  const out = execFileSync(process.execPath, [script], {
    encoding: 'utf8',
    env: { ...process.env, RS1_API_BASE: broker.base, RS1_API_TOKEN: token, RS1_DEVICE: broker.devices[0].device_id },
  });
  assert.match(out, /^\d+ passed, 0 failed$/m);
  assert.doesNotMatch(out, /skipped/);
}));

await run();

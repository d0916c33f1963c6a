// The console's figures for docs/BENCHMARKS.md (not a test: nothing here is
// asserted against a time). Run: cmake --build build --target console_measure
//
// 1. What the first load transfers: every byte chromium receives (headers
//    and bodies as sent, so gzip counts) from opening / to the overview
//    drawn after signing in, with an empty cache.
// 2. The device list with 10,000 devices: from opening #/devices to the
//    first rows on screen, and to every device loaded.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, openBrowser, signIn, waitFor, paths } from './harness.mjs';

const DEVICES = 10000;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const broker = await startBroker({ devices: 0 });
const browser = await openBrowser();
try {
  // 10,000 devices in one transaction, straight into the database (rs1ctl
  // would take a process per device); a third online, firmware in 3 versions.
  execFileSync('sqlite3', [broker.db, `
    WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${DEVICES})
    INSERT INTO devices (device_id, model, device_secret_hash, status, online, last_seen,
                         firmware_version, created_at)
    SELECT printf('rs1-%05d', x), 'RS-1', lower(hex(randomblob(32))), 'active', x % 3 = 0,
           unixepoch() - x * 37, '1.' || (x % 3) || '.0', unixepoch() FROM n;`]);

  // 1. The first load, cache empty.
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  let requests = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; ++requests; });
  await signIn(page, broker);
  await page.getByTestId('count-total').filter({ hasText: String(DEVICES) }).waitFor();
  // The event stream never ends (so never counts): give the rest a moment.
  await page.waitForTimeout(1500);
  const firstLoad = { bytes, requests };

  // 2. The device list, five times, each from a fresh navigation.
  const firstRows = [];
  const allRows = [];
  for (let run = 0; run < 5; ++run) {
    await page.goto(`${broker.base}/#/overview`);
    await page.getByTestId('count-total').waitFor();
    const t0 = Date.now();
    await page.evaluate(() => { location.hash = '#/devices'; });
    await page.getByTestId('device-row').first().waitFor();
    firstRows.push(Date.now() - t0);
    // Every page of the list ("More" until there is none).
    for (;;) {
      const shown = await page.getByTestId('device-row').count();
      if (shown >= DEVICES) break;
      const more = page.getByTestId('device-more');
      if (!(await more.isVisible())) break;
      await more.click();
      await waitFor('the next page of devices', async () =>
        (await page.getByTestId('device-row').count()) > shown, 30000, 20);
    }
    allRows.push(Date.now() - t0);
  }
  const shown = await page.getByTestId('device-row').count();
  console.log(JSON.stringify({
    first_load: { transferred_bytes: firstLoad.bytes, requests: firstLoad.requests },
    device_list: {
      devices: DEVICES, rows_shown: shown,
      first_rows_ms: { median: median(firstRows), all: firstRows },
      all_rows_ms: { median: median(allRows), all: allRows },
    },
  }, null, 2));
  // The window only: a whole-page image of 10,000 rows is too big to take.
  mkdirSync(paths.artifacts(), { recursive: true });
  await page.screenshot({ path: join(paths.artifacts(), 'measure-devices-10000.png') });
  page.assertNoErrors();
} finally {
  await browser.close();
  await broker.stop();
}

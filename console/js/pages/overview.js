// Fleet overview: the GET /api/v1/fleet counts, the firmware distribution
// (each slice links to the device list filtered to that version) and the
// running and paused rollouts. Presence events refetch the counts (at most
// once a second: a fleet reconnecting must not become a request per device);
// rollout events update the rollout they name.

import { api } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, coalesce, pageHeader } from '../ui.js';
import { rolloutCard } from './rollout_bars.js';

const COUNTS = [
  ['total', 'Devices'],
  ['online', 'Online'],
  ['offline', 'Offline'],
  ['never_seen', 'Never seen'],
  ['revoked', 'Revoked'],
];

const ACTIVE_STATES = ['running', 'paused'];
const UNKNOWN_VERSION = 'unknown';

export function countCards(devices) {
  return h(
    'ul',
    { class: 'count-cards' },
    COUNTS.map(([key, label]) =>
      h(
        'li',
        { class: `count-card count-${key}` },
        h('span', { class: 'count-label', id: `count-label-${key}` }, label),
        h('span', { class: 'count-value', 'data-testid': `count-${key}`, 'aria-describedby': `count-label-${key}` }, String(devices[key] ?? 0)),
      ),
    ),
  );
}

// Link target of a firmware slice: the device list filtered on that version.
function sliceHref(version) {
  return `#/devices?firmware=${encodeURIComponent(version)}`;
}

function firmwareChart(firmware) {
  const entries = Object.entries(firmware || {})
    .map(([v, n]) => [v || UNKNOWN_VERSION, n])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = entries.reduce((n, [, c]) => n + c, 0);
  if (!total) return h('p', { class: 'muted' }, 'No device has reported a firmware version yet.');
  const bar = h('div', { class: 'fw-bar', role: 'group', 'aria-label': 'Firmware distribution' });
  const legend = h('ul', { class: 'fw-legend' });
  entries.forEach(([version, count], i) => {
    const pct = (100 * count) / total;
    const label = `${version}: ${count} device${count === 1 ? '' : 's'} (${pct.toFixed(pct < 10 ? 1 : 0)}%)`;
    const slice = h('a', {
      class: `fw-slice c${i % 8}`,
      href: sliceHref(version),
      title: label,
      'aria-label': label,
      'data-testid': 'fw-slice',
      dataset: { version, count },
    });
    slice.style.width = `${pct}%`;
    if (pct >= 8) slice.textContent = version;
    bar.append(slice);
    legend.append(
      h('li', null, h('span', { class: `swatch c${i % 8}`, 'aria-hidden': 'true' }), h('a', { href: sliceHref(version) }, version), ` ${count}`),
    );
  });
  return h('div', { class: 'fw-chart' }, bar, legend);
}

export async function render(container) {
  const countsBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-devices' }, h('h2', { id: 'ov-devices' }, 'Devices'));
  const countsBody = h('div', { 'aria-live': 'polite' });
  countsBox.append(countsBody);
  const fwBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-fw' }, h('h2', { id: 'ov-fw' }, 'Firmware'));
  const fwBody = h('div');
  fwBox.append(fwBody);
  const roBox = h('section', { class: 'panel wide', 'aria-labelledby': 'ov-ro' }, h('h2', { id: 'ov-ro' }, 'Running and paused rollouts'));
  const roBody = h('div');
  roBox.append(roBody);
  container.append(pageHeader('Fleet overview'), h('div', { class: 'overview-grid' }, countsBox, fwBox, roBox));

  let rollouts = new Map(); // rollout_id -> rollout, running and paused only
  let listed = false; // the first rollout list has answered
  let alive = true;

  async function loadFleet() {
    try {
      const { data } = await api('GET', '/api/v1/fleet');
      if (!alive) return;
      replace(countsBody, countCards(data.devices));
      replace(fwBody, firmwareChart(data.firmware));
    } catch (err) {
      if (alive) replace(countsBody, problemMessage(err));
    }
  }

  function drawRollouts() {
    const list = [...rollouts.values()].sort((a, b) => b.rollout_id - a.rollout_id);
    if (!list.length) {
      replace(roBody, h('p', { class: 'muted' }, 'No rollout is running or paused. ', h('a', { href: '#/rollouts' }, 'All rollouts')));
      return;
    }
    replace(roBody, h('ul', { class: 'rollout-cards' }, list.map((r) => rolloutCard(r, 'rollout-progress'))));
  }

  async function loadRollouts() {
    try {
      const { data } = await api('GET', '/api/v1/rollouts');
      if (!alive) return;
      rollouts = new Map(data.filter((r) => ACTIVE_STATES.includes(r.state)).map((r) => [r.rollout_id, r]));
      listed = true;
      drawRollouts();
    } catch (err) {
      if (alive) replace(roBody, problemMessage(err));
    }
  }

  // The API allows api_rate_limit_per_min requests (100 by default) a
  // minute per address, so live pages re-read at most every few seconds.
  const refetchFleet = coalesce(loadFleet, 2000);
  const reloadRollouts = coalesce(loadRollouts, 2000);
  const unsubs = [
    subscribe('presence', refetchFleet),
    // A firmware change shows in the device's state.
    subscribe('state', refetchFleet),
    subscribe('rollout', (r) => {
      if (!r || typeof r.rollout_id !== 'number') return;
      if (ACTIVE_STATES.includes(r.state)) rollouts.set(r.rollout_id, r);
      else if (rollouts.delete(r.rollout_id)) refetchFleet();
      drawRollouts();
      // An event that came before the first list answered may be older or
      // newer than it: read the list once more.
      if (!listed) reloadRollouts();
    }),
    subscribe('connection', ({ reconnect }) => {
      // Events missed while the stream was down: catch up once it is back.
      if (reconnect) {
        refetchFleet();
        loadRollouts();
      }
    }),
  ];

  await Promise.all([loadFleet(), loadRollouts()]);

  return {
    destroy() {
      alive = false;
      refetchFleet.cancel();
      reloadRollouts.cancel();
      unsubs.forEach((u) => u());
    },
  };
}

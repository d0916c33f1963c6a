// One rollout (#/rollouts/<rid>): state and reason, pause/resume/cancel as
// the state allows (admin), the per-status and per-stage bars, its policy,
// and the per-device table, live from rollout events.

import { api, session } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, confirmDialog, coalesce, formatTime, timeEl } from '../ui.js';
import { statusBar, stageBars, stateBadge, STATUS_LABELS } from './rollout_bars.js';

// Which actions each state allows (SPEC §7: resume goes on, cancel is final).
const ACTIONS = {
  running: ['pause', 'cancel'],
  paused: ['resume', 'cancel'],
  completed: [],
  cancelled: [],
};
const FINAL_STATES = ['completed', 'cancelled'];
const ACTION_LABELS = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel rollout' };

function policy(r) {
  const rows = [
    ['Firmware', r.version],
    ['Targets', r.all ? 'All devices' : 'Listed devices'],
    ['Stages', (r.stages || []).map((s) => `${s}%`).join(' → ')],
    ['Max failure rate', r.max_failure_rate],
    ['Min finished', r.min_finished],
    ['Max per minute', r.max_per_minute],
    ['Timeout', r.timeout_min !== undefined ? `${r.timeout_min} min` : undefined],
    ['Retries', r.retries],
    ['Created', r.created_at ? formatTime(r.created_at) : undefined],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
}

function devicesTable(devices) {
  if (!devices.length) return h('p', { class: 'muted' }, 'No device in this rollout yet.');
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'data-table', 'data-testid': 'rollout-devices-table' },
      h('caption', { class: 'visually-hidden' }, 'Devices of the rollout'),
      h('thead', null, h('tr', null, ['Device', 'Status', 'Attempts', 'Error', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        null,
        devices.map((d) =>
          h(
            'tr',
            { 'data-testid': 'rollout-device-row', dataset: { deviceId: d.device_id, status: d.status } },
            h('td', null, h('a', { href: `#/devices/${encodeURIComponent(d.device_id)}` }, d.device_id)),
            h('td', null, h('span', { class: `badge ota-${d.status}` }, STATUS_LABELS[d.status] || d.status)),
            h('td', null, String(d.attempts)),
            h('td', null, d.error || ''),
            h('td', null, timeEl(d.updated_at)),
          ),
        ),
      ),
    ),
  );
}

export async function render(container, { rid }) {
  const path = `/api/v1/rollouts/${rid}`;
  const header = h('div', { class: 'page-header' });
  const errorBox = h('div');
  const summary = h('div');
  const policyBox = h('div');
  const devicesBox = h('div');
  container.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/rollouts' }, 'Rollouts'), ` / #${rid}`),
    header,
    errorBox,
    h(
      'div',
      { class: 'device-grid' },
      h('section', { class: 'panel wide', 'aria-labelledby': 'ro-progress' }, h('h2', { id: 'ro-progress' }, 'Progress'), summary),
      h('section', { class: 'panel', 'aria-labelledby': 'ro-policy' }, h('h2', { id: 'ro-policy' }, 'Policy'), policyBox),
      h('section', { class: 'panel wide', 'aria-labelledby': 'ro-devices' }, h('h2', { id: 'ro-devices' }, 'Devices'), devicesBox),
    ),
  );

  let rollout = null;
  let devices = null; // the last GET …/devices, in stage order
  let alive = true;

  function draw() {
    const actions = session.isAdmin() ? ACTIONS[rollout.state] || [] : [];
    replace(
      header,
      h('h1', null, `Rollout #${rid} → ${rollout.version}`, ' ', stateBadge(rollout)),
      h(
        'div',
        { class: 'actions' },
        actions.map((a) =>
          h('button', { type: 'button', class: a === 'cancel' ? 'danger' : 'secondary', 'data-testid': `rollout-${a}`, onclick: () => act(a) }, ACTION_LABELS[a]),
        ),
      ),
    );
    replace(
      summary,
      rollout.reason ? h('p', { class: 'reason', 'data-testid': 'rollout-reason' }, rollout.reason) : null,
      h('p', { class: 'muted' }, `Stage ${rollout.stage} of ${rollout.stages.length}`),
      statusBar(rollout, { 'data-testid': 'rollout-progress' }),
      stageBars(rollout, devices),
    );
    replace(policyBox, policy(rollout));
  }

  async function act(action) {
    if (action === 'cancel' && !(await confirmDialog(`Cancel rollout #${rid}? No device is triggered for it again; this cannot be undone.`, 'Cancel rollout'))) {
      return;
    }
    try {
      const { data } = await api('POST', `${path}/${action}`);
      replace(errorBox);
      show(data);
    } catch (err) {
      replace(errorBox, problemMessage(err));
    }
  }

  // Show a rollout document (from a GET, an event or an action's answer).
  function show(doc) {
    const ended = rollout && !FINAL_STATES.includes(rollout.state) && FINAL_STATES.includes(doc.state);
    rollout = doc;
    draw();
    if (ended) loadDevices(); // the devices' final statuses, without waiting for the next re-read
  }

  async function loadRollout() {
    const { data } = await api('GET', path);
    if (alive) show(data);
  }

  async function loadDevices() {
    try {
      const { data } = await api('GET', `${path}/devices`);
      if (!alive) return;
      devices = data;
      replace(devicesBox, devicesTable(data));
      if (rollout) draw(); // the stage bars split by these statuses
    } catch (err) {
      if (alive) replace(devicesBox, problemMessage(err));
    }
  }

  // The per-device table follows the events, re-read at most every 3 s:
  // the API allows api_rate_limit_per_min requests (100 by default) a minute.
  const refreshDevices = coalesce(loadDevices, 3000);
  const reloadRollout = coalesce(() => loadRollout().catch((err) => alive && replace(errorBox, problemMessage(err))), 500);

  const unsubs = [
    subscribe('rollout', (r) => {
      if (!r || r.rollout_id !== rid) return;
      // The event of a rollout the broker let go (completed, cancelled) has
      // no counts, and one that came before the first GET answered may be
      // older or newer than it: the rollout is read again for those.
      if (rollout && r.counts) {
        show(r);
      } else {
        reloadRollout();
      }
      refreshDevices();
    }),
    subscribe('connection', ({ reconnect }) => {
      if (!reconnect) return;
      reloadRollout();
      refreshDevices();
    }),
  ];

  try {
    await loadRollout();
  } catch (err) {
    unsubs.forEach((u) => u());
    replace(errorBox, problemMessage(err));
    return undefined;
  }
  loadDevices();

  return {
    destroy() {
      alive = false;
      refreshDevices.cancel();
      reloadRollout.cancel();
      unsubs.forEach((u) => u());
    },
  };
}

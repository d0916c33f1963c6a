// One device: its fields and last state (live from presence and state
// events), revoke/enable for admins, a link to its zone editor, telemetry
// charts and a diagnostics request.

import { api, session } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, confirmDialog, toast, timeEl, formatTime } from '../ui.js';
import { renderTelemetry } from './telemetry_chart.js';
import { renderDiagnostics } from './diag.js';

function describe(d) {
  const rows = [
    ['Model', d.model || '—'],
    ['Status', h('span', { class: `badge status-${d.status}`, 'data-testid': 'device-status' }, d.status)],
    [
      'Connection',
      h(
        'span',
        null,
        h('span', { class: 'online-dot', 'data-testid': 'online-dot', 'data-online': String(d.online), 'aria-hidden': 'true' }),
        d.online ? ' online' : ' offline',
      ),
    ],
    ['Last seen', timeEl(d.last_seen)],
    ['Firmware', d.firmware_version || '—'],
    ['Provisioned', formatTime(d.created_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export async function render(container, { id }) {
  const path = `/api/v1/devices/${encodeURIComponent(id)}`;
  const title = h('h1', null, id);
  const actions = h('div', { class: 'actions' });
  const errorBox = h('div');
  const facts = h('div');
  const stateBox = h('div');
  const telemetryBox = h('section', { class: 'panel wide', 'aria-labelledby': 'dev-telemetry' }, h('h2', { id: 'dev-telemetry' }, 'Telemetry'));
  const diagBox = h('section', { class: 'panel', 'aria-labelledby': 'dev-diag' }, h('h2', { id: 'dev-diag' }, 'Diagnostics'));

  container.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/devices' }, 'Devices'), ' / ', id),
    h('div', { class: 'page-header' }, title, actions),
    errorBox,
  );
  const grid = h(
    'div',
    { class: 'device-grid' },
    h('section', { class: 'panel', 'aria-labelledby': 'dev-facts' }, h('h2', { id: 'dev-facts' }, 'Device'), facts),
    h('section', { class: 'panel', 'aria-labelledby': 'dev-state' }, h('h2', { id: 'dev-state' }, 'Last state'), stateBox),
    telemetryBox,
    diagBox,
  );

  let device = null;

  function draw() {
    replace(facts, describe(device));
    replace(
      stateBox,
      device.state
        ? h('pre', { class: 'json', 'data-testid': 'device-state', tabindex: '0' }, JSON.stringify(device.state, null, 2))
        : h('p', { class: 'muted' }, 'The device has not reported a state yet.'),
    );
    const revoked = device.status === 'revoked';
    replace(
      actions,
      h('a', { class: 'button secondary', href: `#/devices/${encodeURIComponent(id)}/zones`, 'data-testid': 'device-zones' }, 'Zone editor'),
      session.isAdmin()
        ? h(
            'button',
            { type: 'button', class: revoked ? '' : 'danger', 'data-testid': revoked ? 'device-enable' : 'device-revoke', onclick: revoked ? enable : revoke },
            revoked ? 'Enable' : 'Revoke',
          )
        : null,
    );
  }

  async function setStatus(action, question, label, done) {
    if (!(await confirmDialog(question, label))) return;
    try {
      const { data } = await api('POST', `${path}/${action}`);
      device = data;
      draw();
      toast(done, 'success');
    } catch (err) {
      replace(errorBox, problemMessage(err));
    }
  }

  function revoke() {
    return setStatus(
      'revoke',
      `Revoke ${id}? It is disconnected within 2 s and cannot log in until it is enabled again.`,
      'Revoke',
      `${id} revoked.`,
    );
  }

  function enable() {
    return setStatus('enable', `Enable ${id}? It may log in again with its secret.`, 'Enable', `${id} enabled.`);
  }

  try {
    device = (await api('GET', path)).data;
  } catch (err) {
    replace(errorBox, problemMessage(err));
    return undefined;
  }
  container.append(grid);
  draw();

  const unsubs = [
    subscribe('presence', (e) => {
      if (e.device_id !== id) return;
      device = { ...device, online: e.online, last_seen: Math.floor(Date.now() / 1000) };
      draw();
    }),
    subscribe('state', (e) => {
      if (e.device_id !== id) return;
      const fw = e.state && typeof e.state.firmware_version === 'string' ? e.state.firmware_version : device.firmware_version;
      device = { ...device, state: e.state, firmware_version: fw, last_seen: Math.floor(Date.now() / 1000) };
      draw();
    }),
    subscribe('connection', async ({ reconnect }) => {
      if (!reconnect) return;
      try {
        device = (await api('GET', path)).data;
        draw();
      } catch (err) {
        replace(errorBox, problemMessage(err));
      }
    }),
  ];
  const telemetry = renderTelemetry(telemetryBox, id);
  const diag = renderDiagnostics(diagBox, id);

  return {
    destroy() {
      unsubs.forEach((u) => u());
      telemetry.destroy();
      diag.destroy();
    },
  };
}

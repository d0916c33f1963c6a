// The device list: search (q, debounced), status and online filters, keyset
// paging by next_page_token, live online dots from presence events.
//
// Built for fleets of 10,000+: pages of 1000 devices, each page's rows
// built off-document in one DocumentFragment and inserted at once (one
// layout), and presence events touch only the dot of their row (a Map from
// device id to row) instead of refetching. The filters live in the hash
// (#/devices?q=&status=&online=&firmware=) so a filtered list can be linked
// to (the overview's firmware slices do) and survives a reload.

import { api, query } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, debounce, pageHeader, field, relativeTime, formatTime, toMs } from '../ui.js';

const PAGE_SIZE = 1000;
const SEARCH_DELAY_MS = 300;
const RELATIVE_REFRESH_MS = 60000;
const FILTER_KEYS = ['q', 'status', 'online', 'firmware'];

function select(name, label, options, value, testid) {
  const el = h(
    'select',
    { name, 'data-testid': testid, value },
    options.map(([v, text]) => h('option', { value: v }, text)),
  );
  return field(label, el);
}

function onlineDot(online) {
  return h('span', {
    class: 'online-dot',
    'data-testid': 'online-dot',
    'data-online': String(Boolean(online)),
    role: 'img',
    'aria-label': online ? 'online' : 'offline',
    title: online ? 'online' : 'offline',
  });
}

function lastSeenCell(lastSeen) {
  const ms = toMs(lastSeen);
  const td = h('td', { class: 'last-seen' });
  if (ms === null) td.append(h('span', { class: 'muted' }, 'never'));
  else td.append(h('time', { datetime: new Date(ms).toISOString(), title: formatTime(ms), dataset: { ms } }, relativeTime(ms)));
  return td;
}

function deviceRow(d) {
  const href = `#/devices/${encodeURIComponent(d.device_id)}`;
  return h(
    'tr',
    { 'data-testid': 'device-row', 'data-device-id': d.device_id, class: d.status === 'revoked' ? 'revoked' : null },
    h('td', null, h('a', { href }, d.device_id)),
    h('td', null, d.model || h('span', { class: 'muted' }, '—')),
    h('td', null, h('span', { class: `badge status-${d.status}` }, d.status)),
    h('td', { class: 'online-cell' }, onlineDot(d.online), h('span', { class: 'online-text' }, d.online ? 'online' : 'offline')),
    h('td', null, d.firmware_version || h('span', { class: 'muted' }, '—')),
    lastSeenCell(d.last_seen),
  );
}

export function render(container, params) {
  const started = performance.now();
  const filters = Object.fromEntries(FILTER_KEYS.map((k) => [k, params.query.get(k) || '']));

  const search = h('input', {
    type: 'search',
    name: 'q',
    value: filters.q,
    placeholder: 'Device id contains…',
    autocomplete: 'off',
    'data-testid': 'device-search',
  });
  const statusField = select('status', 'Status', [['', 'Any'], ['active', 'Active'], ['revoked', 'Revoked']], filters.status, 'device-status-filter');
  const onlineField = select('online', 'Connection', [['', 'Any'], ['true', 'Online'], ['false', 'Offline']], filters.online, 'device-online-filter');
  const firmwareNote = h('div', { class: 'filter-note' });
  const summary = h('p', { class: 'list-summary', 'aria-live': 'polite', 'data-testid': 'device-summary' });
  const errorBox = h('div');
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'data-table devices-table', 'data-testid': 'device-table' },
    h('caption', { class: 'visually-hidden' }, 'Devices'),
    h(
      'thead',
      null,
      h('tr', null, ['Device', 'Model', 'Status', 'Online', 'Firmware', 'Last seen'].map((t) => h('th', { scope: 'col' }, t))),
    ),
    tbody,
  );
  const more = h('button', { type: 'button', class: 'secondary', 'data-testid': 'device-more', hidden: true }, 'More');

  container.append(
    pageHeader('Devices'),
    h(
      'form',
      { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      field('Search', search),
      statusField,
      onlineField,
    ),
    firmwareNote,
    errorBox,
    summary,
    h('div', { class: 'table-scroll' }, table),
    h('div', { class: 'more-row' }, more),
  );

  let rows = new Map(); // device_id -> { tr, dot, text, seenCell } of the rows shown
  let nextToken = null;
  let loaded = 0; // devices fetched (before the client-side firmware filter)
  let generation = 0; // bumps when the filters change; late pages are dropped
  let measured = false;
  let loading = false;

  function matchesFirmware(d) {
    return !filters.firmware || (d.firmware_version || 'unknown') === filters.firmware;
  }

  function drawFirmwareNote() {
    if (!filters.firmware) {
      replace(firmwareNote);
      return;
    }
    replace(
      firmwareNote,
      h('span', null, 'Firmware ', h('strong', null, filters.firmware), ' only. '),
      h('button', { type: 'button', class: 'link', onclick: () => setFilter('firmware', '') }, 'Show every firmware'),
    );
  }

  function drawSummary() {
    const shown = rows.size;
    let text = `${shown} device${shown === 1 ? '' : 's'} shown`;
    if (filters.firmware) text += ` (of ${loaded} loaded)`;
    if (nextToken) text += loading ? ', loading more…' : ', more available';
    summary.textContent = text;
  }

  function appendPage(devices) {
    const fragment = document.createDocumentFragment();
    for (const d of devices) {
      if (!matchesFirmware(d) || rows.has(d.device_id)) continue;
      const tr = deviceRow(d);
      fragment.append(tr);
      rows.set(d.device_id, { tr, dot: tr.querySelector('.online-dot'), text: tr.querySelector('.online-text'), seenCell: tr.lastChild });
    }
    tbody.append(fragment);
  }

  async function loadPage(reset) {
    const gen = reset ? ++generation : generation;
    let ok = false;
    loading = true;
    more.disabled = true;
    drawSummary();
    try {
      const { data } = await api(
        'GET',
        `/api/v1/devices${query({ q: filters.q, status: filters.status, online: filters.online, page_size: PAGE_SIZE, page_token: reset ? '' : nextToken })}`,
      );
      if (gen !== generation || !container.isConnected) return;
      if (reset) {
        tbody.replaceChildren();
        rows = new Map();
        loaded = 0;
      }
      replace(errorBox);
      appendPage(data.devices);
      loaded += data.devices.length;
      nextToken = data.next_page_token;
      if (!measured) measureFirstRender();
      if (!rows.size && !nextToken) summary.textContent = 'No device matches.';
      ok = true;
    } catch (err) {
      if (gen === generation) replace(errorBox, problemMessage(err));
    } finally {
      if (gen === generation) {
        loading = false;
        more.disabled = false;
        // With a firmware filter the pages come by themselves (below).
        more.hidden = !nextToken || Boolean(filters.firmware);
        if (rows.size || nextToken) drawSummary();
      }
    }
    // A firmware filter is applied here, not by the server: fetch on until
    // every page was seen, or the filtered list would miss devices.
    if (ok && gen === generation && filters.firmware && nextToken) loadPage(false);
  }

  // Time from opening the page to the first page of rows painted.
  // Shown as data-first-render-ms on the table and as a performance measure.
  function measureFirstRender() {
    measured = true;
    requestAnimationFrame(() => {
      const end = performance.now();
      table.dataset.firstRenderMs = String(Math.round(end - started));
      performance.measure('rs1-devices-first-render', { start: started, end });
    });
  }

  function writeHash() {
    const qs = query(filters);
    history.replaceState(null, '', `#/devices${qs}`);
  }

  function setFilter(key, value) {
    if (filters[key] === value) return;
    filters[key] = value;
    writeHash();
    drawFirmwareNote();
    loadPage(true);
  }

  const searchLater = debounce(() => setFilter('q', search.value.trim()), SEARCH_DELAY_MS);
  search.addEventListener('input', searchLater);
  statusField.querySelector('select').addEventListener('change', (e) => setFilter('status', e.target.value));
  onlineField.querySelector('select').addEventListener('change', (e) => setFilter('online', e.target.value));
  more.addEventListener('click', () => loadPage(false));

  // Presence: flip the row's dot in place; either way the device was seen now.
  const unsubscribe = subscribe('presence', (e) => {
    const row = rows.get(e.device_id);
    if (!row) return;
    row.dot.dataset.online = String(Boolean(e.online));
    row.dot.setAttribute('aria-label', e.online ? 'online' : 'offline');
    row.dot.title = e.online ? 'online' : 'offline';
    row.text.textContent = e.online ? 'online' : 'offline';
    const fresh = lastSeenCell(Date.now());
    row.seenCell.replaceWith(fresh);
    row.seenCell = fresh;
  });

  // Presence events missed while the stream was down: read the list again
  // (from its first page; a reconnect is rare).
  const unsubscribeConnection = subscribe('connection', ({ reconnect }) => reconnect && loadPage(true));

  // Keep "3 minutes ago" true without re-rendering rows.
  const refresh = setInterval(() => {
    for (const t of tbody.querySelectorAll('time[data-ms]')) t.textContent = relativeTime(Number(t.dataset.ms));
  }, RELATIVE_REFRESH_MS);

  drawFirmwareNote();
  loadPage(true);

  return {
    destroy() {
      generation++;
      searchLater.cancel();
      unsubscribe();
      unsubscribeConnection();
      clearInterval(refresh);
    },
  };
}

// The security log (admin): GET /api/v1/security-log?since=&type=&limit=,
// newest first, filtered by event type and by a start time.

import { api, query } from '../api.js';
import { h, replace, problemMessage, pageHeader, field, formatTime, relativeTime } from '../ui.js';

// The event types of SPEC §9.
const TYPES = ['auth_failure_repeated', 'acl_violation', 'rate_limit_exceeded', 'admin_api_access'];
const LIMITS = [100, 500, 1000]; // the API gives at most 1000

function detailsText(details) {
  if (!details || typeof details !== 'object') return '';
  return Object.entries(details)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(', ');
}

function logTable(events) {
  if (!events.length) return h('p', { class: 'muted' }, 'No event matches.');
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'data-table', 'data-testid': 'security-table' },
      h('caption', { class: 'visually-hidden' }, 'Security events, newest first'),
      h('thead', null, h('tr', null, ['Time', 'Type', 'Severity', 'Address', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        null,
        events.map((e) =>
          h(
            'tr',
            { 'data-testid': 'security-row', dataset: { type: e.event_type } },
            h('td', { title: relativeTime(e.time) }, formatTime(e.time)),
            h('td', null, h('code', null, e.event_type)),
            h('td', null, h('span', { class: `badge severity-${e.severity}` }, e.severity)),
            h('td', null, e.ip || '—'),
            h('td', { class: 'details' }, detailsText(e.details)),
          ),
        ),
      ),
    ),
  );
}

export async function render(container) {
  const type = h(
    'select',
    { name: 'type', 'data-testid': 'security-type' },
    h('option', { value: '' }, 'All types'),
    TYPES.map((t) => h('option', { value: t }, t)),
  );
  const since = h('input', { type: 'datetime-local', name: 'since', 'data-testid': 'security-since' });
  const limit = h('select', { name: 'limit', value: '100' }, LIMITS.map((n) => h('option', { value: String(n) }, String(n))));
  const summary = h('p', { class: 'list-summary', 'aria-live': 'polite' });
  const listBox = h('div');

  async function load() {
    // datetime-local is local wall time without a zone; the API wants an
    // instant, so send unix seconds.
    const sinceS = since.value ? Math.floor(new Date(since.value).getTime() / 1000) : '';
    summary.textContent = 'Loading…';
    try {
      const { data } = await api('GET', `/api/v1/security-log${query({ type: type.value, since: sinceS, limit: limit.value })}`);
      summary.textContent = `${data.length} event${data.length === 1 ? '' : 's'}${data.length >= Number(limit.value) ? ' (the newest; raise the limit or narrow the filter for more)' : ''}.`;
      replace(listBox, logTable(data));
    } catch (err) {
      summary.textContent = '';
      replace(listBox, problemMessage(err));
    }
  }

  for (const el of [type, since, limit]) el.addEventListener('change', load);
  const reload = h('button', { type: 'button', class: 'secondary', onclick: load, 'data-testid': 'security-reload' }, 'Reload');

  container.append(
    pageHeader('Security log', reload),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, field('Type', type), field('Since', since), field('Show at most', limit)),
    summary,
    listBox,
  );
  await load();
}

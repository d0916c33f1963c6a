// Diagnostics of one device (SPEC §5 diag/request): POST …/diag answers 202
// with a request_id; the device answers later as telemetry metric `diag`
// whose payload carries that request_id. The answer is taken from the live
// telemetry event, with a poll of ?metric=diag as the fallback when the
// event stream is down or the answer came before we listened.

import { api, query } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, field } from '../ui.js';

// Any non-empty name is accepted by the broker; these are what RS-1
// firmware is expected to know, plus free text for anything else.
const ITEMS = [
  ['wifi', 'Wi-Fi (signal, reconnects)'],
  ['uptime', 'Uptime'],
  ['memory', 'Memory'],
  ['firmware', 'Firmware'],
  ['sensors', 'Sensors'],
];
const POLL_MS = 3000;
const GIVE_UP_MS = 5 * 60 * 1000;

export function renderDiagnostics(container, deviceId) {
  const boxes = ITEMS.map(([value, label], i) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'what', value, checked: i < 2, 'data-testid': `diag-${value}` }), ` ${label}`),
  );
  const extra = h('input', { name: 'extra', placeholder: 'e.g. logs, zones', autocomplete: 'off', 'data-testid': 'diag-extra' });
  const submit = h('button', { type: 'submit', 'data-testid': 'diag-submit' }, 'Request diagnostics');
  const status = h('div', { class: 'diag-status', 'aria-live': 'polite', 'data-testid': 'diag-status' });
  const answer = h('div', { class: 'diag-answer' });

  let pending = null; // { requestId, since, poll, timeout, unsubscribe }
  let alive = true;

  function stopWaiting() {
    if (!pending) return;
    clearInterval(pending.poll);
    clearTimeout(pending.timeout);
    pending.unsubscribe();
    pending = null;
    submit.disabled = false;
  }

  function showAnswer(payload, receivedAtMs) {
    stopWaiting();
    status.textContent = `Answer received ${new Date(receivedAtMs).toLocaleTimeString()}.`;
    replace(answer, h('pre', { class: 'json', 'data-testid': 'diag-answer', tabindex: '0' }, JSON.stringify(payload, null, 2)));
  }

  async function poll() {
    if (!pending) return;
    const { requestId, since } = pending;
    try {
      const { data } = await api('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry${query({ metric: 'diag', since })}`);
      const row = data.find((r) => r.payload && r.payload.request_id === requestId);
      if (row && pending && pending.requestId === requestId) showAnswer(row.payload, row.received_at_ms);
    } catch (err) {
      if (alive) replace(answer, problemMessage(err));
    }
  }

  function selectedItems() {
    const what = boxes.map((l) => l.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
    for (const item of extra.value.split(',')) if (item.trim()) what.push(item.trim());
    return [...new Set(what)];
  }

  async function onSubmit(e) {
    e.preventDefault();
    stopWaiting();
    replace(answer);
    const what = selectedItems();
    if (!what.length) {
      status.textContent = 'Choose at least one item.';
      return;
    }
    submit.disabled = true;
    status.textContent = 'Sending the request…';
    // Rows of the answer are newer than this; a few seconds of slack for clocks.
    const since = Math.floor(Date.now() / 1000) - 5;
    try {
      const { data } = await api('POST', `/api/v1/devices/${encodeURIComponent(deviceId)}/diag`, { body: { what } });
      if (!alive) return;
      const requestId = data.request_id;
      status.replaceChildren('Request ', h('code', null, requestId), ' sent; waiting for the device to answer (it must be online)…');
      pending = {
        requestId,
        since,
        unsubscribe: subscribe('telemetry', (ev) => {
          if (ev.device_id === deviceId && ev.metric === 'diag' && ev.payload && ev.payload.request_id === requestId) {
            showAnswer(ev.payload, ev.received_at_ms);
          }
        }),
        poll: setInterval(poll, POLL_MS),
        timeout: setTimeout(() => {
          stopWaiting();
          status.textContent = `No answer to ${requestId} after 5 minutes. The broker keeps the request for 24 h and delivers it when the device connects; request again to check later.`;
        }, GIVE_UP_MS),
      };
    } catch (err) {
      submit.disabled = false;
      replace(status);
      replace(answer, problemMessage(err));
    }
  }

  container.append(
    h(
      'form',
      { class: 'diag-form', onsubmit: onSubmit },
      h('fieldset', null, h('legend', null, 'Ask the device for'), h('div', { class: 'checks' }, boxes), field('Other items (comma-separated)', extra)),
      submit,
    ),
    status,
    answer,
  );

  return {
    destroy() {
      alive = false;
      stopWaiting();
    },
  };
}

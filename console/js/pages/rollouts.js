// Rollouts: the list (state, per-status bar, per-stage bars), live from
// rollout events, and for admins the create form (POST /api/v1/rollouts,
// the RolloutCreate shape of openapi.yaml).

import { api, session } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, pageHeader, field, coalesce } from '../ui.js';
import { rolloutCard } from './rollout_bars.js';

// "10, 50,100" -> [10, 50, 100], or a message saying what is wrong (the
// broker's rules: 1-20 stages rising strictly within 1..100, ending at 100).
export function parseStages(text) {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!parts.length || parts.length > 20) return { error: 'Give 1 to 20 stages, e.g. 10,50,100.' };
  const stages = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) return { error: `"${p}" is not a whole percentage.` };
    const n = Number(p);
    if (n < 1 || n > 100 || (stages.length && n <= stages[stages.length - 1])) {
      return { error: 'Percentages must rise strictly within 1..100.' };
    }
    stages.push(n);
  }
  if (stages[stages.length - 1] !== 100) return { error: 'The last stage must be 100.' };
  return { stages };
}

export function parseDeviceIds(text) {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

function numberInput(name, value, attrs) {
  return h('input', { type: 'number', name, value: String(value), required: true, inputmode: 'decimal', 'data-testid': `rollout-${name.replace(/_/g, '-')}`, ...attrs });
}

function createForm() {
  const version = h('select', { name: 'version', required: true, 'data-testid': 'rollout-version' }, h('option', { value: '' }, 'Loading…'));
  const all = h('input', { type: 'checkbox', name: 'all', checked: true, 'data-testid': 'rollout-all' });
  const devices = h('textarea', { name: 'devices', rows: '3', placeholder: 'sensor-001, sensor-002 …', 'data-testid': 'rollout-devices' });
  const devicesField = field('Device ids (comma or newline separated)', devices);
  devicesField.hidden = true;
  const stages = h('input', { name: 'stages', value: '10,50,100', required: true, 'data-testid': 'rollout-stages', autocomplete: 'off' });
  const maxFailureRate = numberInput('max_failure_rate', 0.2, { min: '0', max: '1', step: '0.01' });
  const minFinished = numberInput('min_finished', 5, { min: '1', step: '1' });
  const maxPerMinute = numberInput('max_per_minute', 600, { min: '1', step: '1' });
  const timeoutMin = numberInput('timeout_min', 60, { min: '1', step: '1' });
  const retries = numberInput('retries', 1, { min: '0', step: '1' });
  const errorBox = h('div');
  const submit = h('button', { type: 'submit', 'data-testid': 'rollout-submit' }, 'Start rollout');

  all.addEventListener('change', () => {
    devicesField.hidden = all.checked;
    devices.required = !all.checked;
  });

  async function loadVersions() {
    try {
      const { data } = await api('GET', '/api/v1/firmware');
      const sorted = [...data].sort((a, b) => b.created_at - a.created_at);
      replace(
        version,
        sorted.length ? h('option', { value: '' }, 'Choose a version') : h('option', { value: '' }, 'Upload firmware first'),
        sorted.map((f) => h('option', { value: f.version }, f.version)),
      );
    } catch (err) {
      replace(errorBox, problemMessage(err));
    }
  }

  async function onSubmit(e) {
    e.preventDefault();
    replace(errorBox);
    const parsed = parseStages(stages.value);
    if (parsed.error) {
      replace(errorBox, problemMessage({ title: 'Stages', detail: parsed.error }));
      stages.focus();
      return;
    }
    const body = {
      version: version.value,
      stages: parsed.stages,
      max_failure_rate: Number(maxFailureRate.value),
      min_finished: Number(minFinished.value),
      max_per_minute: Number(maxPerMinute.value),
      timeout_min: Number(timeoutMin.value),
      retries: Number(retries.value),
    };
    if (all.checked) body.all = true;
    else {
      body.devices = parseDeviceIds(devices.value);
      if (!body.devices.length) {
        replace(errorBox, problemMessage({ title: 'Devices', detail: 'Name at least one device, or choose all devices.' }));
        devices.focus();
        return;
      }
    }
    submit.disabled = true;
    try {
      const { data } = await api('POST', '/api/v1/rollouts', { body });
      location.hash = `#/rollouts/${data.rollout_id}`;
    } catch (err) {
      replace(errorBox, problemMessage(err));
    } finally {
      submit.disabled = false;
    }
  }

  const form = h(
    'form',
    { class: 'rollout-form', onsubmit: onSubmit, 'data-testid': 'rollout-create' },
    h(
      'div',
      { class: 'form-grid' },
      field('Firmware version', version),
      field('Stages (cumulative %)', stages, 'e.g. 10,50,100; the last must be 100'),
      h('div', { class: 'field' }, h('label', { class: 'check' }, all, ' All devices (including ones provisioned while it runs)')),
      devicesField,
      field('Max failure rate', maxFailureRate, '0..1; pauses the rollout beyond it'),
      field('Min finished', minFinished, 'devices finished before the failure rate counts'),
      field('Max triggers per minute', maxPerMinute),
      field('Timeout (minutes)', timeoutMin),
      field('Retries', retries),
    ),
    errorBox,
    submit,
  );
  loadVersions();
  return form;
}

export async function render(container) {
  const listBox = h('div', { 'aria-live': 'polite' });
  container.append(pageHeader('Rollouts'));
  if (session.isAdmin()) {
    container.append(h('section', { class: 'panel', 'aria-labelledby': 'ro-new' }, h('h2', { id: 'ro-new' }, 'New rollout'), createForm()));
  }
  container.append(h('section', { class: 'panel', 'aria-labelledby': 'ro-list' }, h('h2', { id: 'ro-list' }, 'All rollouts'), listBox));

  let rollouts = new Map();
  let listed = false; // the first list has answered

  function draw() {
    const list = [...rollouts.values()].sort((a, b) => b.rollout_id - a.rollout_id);
    replace(listBox, list.length ? h('ul', { class: 'rollout-cards' }, list.map((r) => rolloutCard(r, 'rollout-row', { withStages: true }))) : h('p', { class: 'muted' }, 'No rollout yet.'));
  }

  async function load() {
    try {
      const { data } = await api('GET', '/api/v1/rollouts');
      rollouts = new Map(data.map((r) => [r.rollout_id, r]));
      listed = true;
      draw();
    } catch (err) {
      replace(listBox, problemMessage(err));
    }
  }

  const reloadSoon = coalesce(load, 1000);

  const unsubs = [
    subscribe('rollout', (r) => {
      if (!r || typeof r.rollout_id !== 'number') return;
      // The event of a rollout the broker let go (completed, cancelled) has
      // no counts, and one that came before the first list answered may be
      // older or newer than it: the list is read again for those.
      if (r.counts) {
        rollouts.set(r.rollout_id, r);
        draw();
      }
      if (!r.counts || !listed) reloadSoon();
    }),
    subscribe('connection', ({ reconnect }) => reconnect && load()),
  ];
  await load();
  return {
    destroy() {
      reloadSoon.cancel();
      unsubs.forEach((u) => u());
    },
  };
}

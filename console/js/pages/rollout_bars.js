// Progress bars of a rollout (SPEC §7), shared by the overview, the rollout
// list and the rollout page. The API gives counts per device status for the
// whole set and the current stage (1-based); stages are cumulative percentages
// of the set, each rounded up (as the broker's stage_size does).

import { h } from '../ui.js';

// Display order: finished outcomes first, then work under way, then waiting.
export const STATUSES = ['success', 'skipped', 'failed', 'timed_out', 'in_progress', 'triggered', 'pending'];

const FINISHED = ['success', 'skipped', 'failed', 'timed_out'];

export const STATUS_LABELS = {
  success: 'success',
  skipped: 'skipped',
  failed: 'failed',
  timed_out: 'timed out',
  in_progress: 'in progress',
  triggered: 'triggered',
  pending: 'pending',
};

export function totalOf(counts) {
  return STATUSES.reduce((n, s) => n + (counts[s] || 0), 0);
}

export function finishedOf(counts) {
  return FINISHED.reduce((n, s) => n + (counts[s] || 0), 0);
}

function percent(part, whole) {
  return whole > 0 ? (100 * part) / whole : 0;
}

// One stacked bar of the whole set, a segment per status, with a legend.
export function statusBar(rollout, attrs = {}) {
  const counts = rollout.counts || {};
  const total = totalOf(counts);
  const finished = finishedOf(counts);
  const bar = h('div', {
    class: 'status-bar',
    role: 'progressbar',
    'aria-label': `Rollout ${rollout.rollout_id} progress`,
    'aria-valuemin': '0',
    'aria-valuemax': String(total),
    'aria-valuenow': String(finished),
    'aria-valuetext': `${finished} of ${total} devices finished`,
    ...attrs,
  });
  for (const s of STATUSES) {
    const n = counts[s] || 0;
    if (!n) continue;
    const seg = h('span', { class: `seg seg-${s}`, title: `${STATUS_LABELS[s]}: ${n}`, dataset: { status: s, count: n } });
    seg.style.width = `${percent(n, total)}%`;
    bar.append(seg);
  }
  const legend = h(
    'ul',
    { class: 'legend' },
    STATUSES.filter((s) => counts[s]).map((s) =>
      h('li', null, h('span', { class: `swatch seg-${s}`, 'aria-hidden': 'true' }), `${STATUS_LABELS[s]} ${counts[s]}`),
    ),
  );
  return h(
    'div',
    { class: 'status-bar-wrap' },
    h('div', { class: 'bar-caption' }, `${finished} / ${total} finished`, total ? ` (${Math.round(percent(finished, total))}%)` : ''),
    bar,
    legend,
  );
}

// Devices of the set that stages 0..i take in (cumulative, rounded up).
function stageEnd(pct, total) {
  return Math.ceil((pct * total) / 100);
}

// One bar per stage. With the rollout's devices (GET …/devices, which lists
// them in the order stages take them in), each stage's bar is split by the
// status of exactly the devices that stage adds. Without them (the overview
// and the list have only the set's counts) a stage shows how many of its
// size have finished, filled from the first stage on, as the broker takes
// devices in order.
export function stageBars(rollout, devices = null) {
  const counts = rollout.counts || {};
  const total = totalOf(counts);
  const finished = finishedOf(counts);
  const stages = rollout.stages || [];
  const members = Array.isArray(devices) && devices.length === total ? devices : null;
  let prevEnd = 0;
  const items = stages.map((pct, i) => {
    const end = stageEnd(pct, total);
    const size = end - prevEnd;
    const n = i + 1; // the API's stage numbers start at 1
    const phase = rollout.state === 'completed' || n < rollout.stage ? 'done' : n === rollout.stage ? 'current' : 'upcoming';
    let done;
    const bar = h('span', {
      class: 'stage-bar',
      role: 'progressbar',
      'aria-label': `Stage ${i + 1} (${pct}%)`,
      'aria-valuemin': '0',
      'aria-valuemax': String(size),
      'data-testid': 'stage-bar',
    });
    if (members) {
      const byStatus = {};
      for (const d of members.slice(prevEnd, end)) byStatus[d.status] = (byStatus[d.status] || 0) + 1;
      done = finishedOf(byStatus);
      for (const st of STATUSES) {
        if (!byStatus[st]) continue;
        const seg = h('span', { class: `seg seg-${st}`, title: `${STATUS_LABELS[st]}: ${byStatus[st]}`, dataset: { status: st, count: byStatus[st] } });
        seg.style.width = `${percent(byStatus[st], size)}%`;
        bar.append(seg);
      }
      bar.setAttribute('aria-valuetext', STATUSES.filter((st) => byStatus[st]).map((st) => `${STATUS_LABELS[st]} ${byStatus[st]}`).join(', ') || 'no device');
    } else {
      done = Math.max(0, Math.min(size, finished - prevEnd));
      const fill = h('span', { class: 'fill' });
      fill.style.width = `${size > 0 ? percent(done, size) : phase === 'done' ? 100 : 0}%`;
      bar.append(fill);
    }
    prevEnd = end;
    bar.setAttribute('aria-valuenow', String(done));
    Object.assign(bar.dataset, { stage: i, phase, done, size, split: members ? 'status' : 'finished' });
    return h(
      'li',
      { class: `stage stage-${phase}` },
      h('span', { class: 'stage-label' }, `Stage ${i + 1}: ${pct}%`, phase === 'current' ? ' (current)' : ''),
      bar,
      h('span', { class: 'stage-count' }, `${done} / ${size}`),
    );
  });
  return h('ol', { class: 'stage-bars' }, items);
}

export function stateBadge(rollout, attrs = {}) {
  return h('span', { class: `badge state-${rollout.state}`, 'data-testid': 'rollout-status', ...attrs }, rollout.state);
}

// A rollout as a card (the overview's running rollouts, the rollout list):
// link, version, state, stage, reason, the status bar, and with
// `withStages` the per-stage bars.
export function rolloutCard(r, testid, { withStages = false } = {}) {
  return h(
    'li',
    { class: 'rollout-card', 'data-testid': testid, dataset: { rolloutId: r.rollout_id } },
    h(
      'div',
      { class: 'rollout-card-head' },
      h('a', { href: `#/rollouts/${r.rollout_id}` }, `Rollout #${r.rollout_id}`),
      ' → ',
      h('strong', null, r.version),
      ' ',
      stateBadge(r),
      h('span', { class: 'muted' }, ` stage ${r.stage} of ${r.stages.length}`),
    ),
    r.reason ? h('p', { class: 'reason' }, r.reason) : null,
    statusBar(r),
    withStages ? stageBars(r) : null,
  );
}

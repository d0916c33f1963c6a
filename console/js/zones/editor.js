// The zone editor page (#/devices/<id>/zones): the sensor's field of view
// with the device's zones as polygons to draw and edit, the §6 rules checked
// on every change (rules.js, the server's own sentences), save with If-Match,
// the device's applied/pending/rejected answer, history and rollback, JSON
// import and export. This module holds the state and wires the pieces:
// drawing.js draws, zone_panel.js is the form, sync.js talks to the API.

import { h, replace, problemMessage, confirmDialog, field } from '../ui.js';
import { session } from '../api.js';
import {
  validateZoneConfig,
  locatePointer,
  MAX_ZONES,
  MAX_POINTS,
  MIN_POINTS,
  MIN_ZONE_ID,
  MAX_ZONE_ID,
  MIN_SENSITIVITY,
  MAX_SENSITIVITY,
  DEFAULT_SENSITIVITY,
} from './rules.js';
import { fromSvg, translate, midpoint, drawable, FIELD } from './geometry.js';
import { createCanvas, drawField, drawZones, drawDraft, svgEl } from './drawing.js';
import { UndoStack } from './undo.js';
import { loadZones, saveZones, rollBack, rejectionReason } from './sync.js';
import { createZonePanel, typedValue } from './zone_panel.js';
import { createHistoryPanel } from './history.js';
import { createImportPanel, exportConfig } from './transfer.js';

const POLL_MS = 2000;
const NUDGE_MM = 10;
const NUDGE_BIG_MM = 100;
// Handle sizes in CSS pixels: bigger for fingers.
const HANDLE_PX = () => (matchMedia('(pointer: coarse)').matches ? 14 : 8);

const clone = (v) => structuredClone(v);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const DRAW_HINT =
  'Click the corners of the new zone on the drawing. Click the first point or press Enter to finish; ' +
  'Backspace removes the last point; Escape cancels.';

export async function renderZoneEditor(container, deviceId) {
  const state = {
    config: { zones: [] },
    baseline: null, // JSON of the config as last loaded or saved
    etag: null,
    show: null, // the last zone show
    rejection: null, // the device's error text for a rejected desired version
    selection: { zone: null, vertex: null },
    draft: null, // {points, hover} while a new zone is drawn
    drag: null,
    ruleErrors: [],
    serverErrors: null, // a 422's errors, until the next edit
    saving: false,
    destroyed: false,
  };
  const readOnly = session.role() === 'service';
  const undo = new UndoStack();
  const knownConfigs = new Map(); // version -> config this page has seen
  let pollTimer = null;
  let waitingNote = null; // the message shown while the device has not answered a save
  let pollProblem = null; // the message of a failed poll

  // --- the page ---------------------------------------------------------------

  const statusEl = h('span', { class: 'zone-status', 'data-testid': 'zone-status' }, '…');
  const desiredEl = h('span', { 'data-testid': 'zone-desired-version' }, '—');
  const appliedEl = h('span', { 'data-testid': 'zone-applied-version' }, '—');
  const dirtyEl = h('span', { class: 'zone-dirty', 'data-testid': 'zone-dirty' });
  const message = h('div', { class: 'zone-message', 'aria-live': 'polite' });
  const hint = h('p', { class: 'zone-hint', 'aria-live': 'polite' });

  const button = (label, testid, onclick, cls = 'secondary') =>
    h('button', { type: 'button', class: cls, 'data-testid': testid, onclick }, label);
  const addButton = button('Add zone', 'zone-add', () => startDraft());
  const undoButton = button('Undo', 'zone-undo', () => stepBack());
  const redoButton = button('Redo', 'zone-redo', () => stepForward());
  const deletePointButton = button('Delete point', 'zone-vertex-delete', () =>
    deleteVertex(state.selection.zone, state.selection.vertex),
  );
  const saveButton = button('Save', 'zone-save', () => save(), 'primary');
  const exportButton = button('Export JSON', 'zone-export', () => exportConfig(state.config, deviceId));
  undoButton.setAttribute('aria-keyshortcuts', 'Control+Z');
  redoButton.setAttribute('aria-keyshortcuts', 'Control+Shift+Z Control+Y');
  const sensitivity = h('input', {
    type: 'number',
    min: MIN_SENSITIVITY,
    max: MAX_SENSITIVITY,
    step: 1,
    'data-testid': 'zone-sensitivity',
    oninput: (e) => edit((c) => { c.sensitivity = typedValue(e.target.value); }, 'sensitivity'),
  });

  const svg = createCanvas();
  svg.setAttribute('data-testid', 'zone-canvas');
  svg.setAttribute('tabindex', '0');
  svg.setAttribute('role', 'application');
  svg.setAttribute(
    'aria-label',
    'Field of view of the sensor, 12 by 6 metres, the sensor at the bottom centre. ' +
      'Zones are edited here with a pointer, or with the zone form beside it.',
  );
  const fieldLayer = svgEl('g');
  const zoneLayer = svgEl('g');
  svg.append(fieldLayer, zoneLayer);
  let drawnUnit = null;

  const errorList = h('ul', { class: 'zone-error-list' });
  const panel = createZonePanel({
    select: (zi) => select(zi, null),
    selectVertex: (zi, k) => {
      if (state.selection.zone !== zi || state.selection.vertex !== k) select(zi, k);
    },
    edit: (mutate, key) => edit(mutate, key),
    deleteZone: (zi) => deleteZone(zi),
    deleteVertex: (zi, k) => deleteVertex(zi, k),
  });
  const historyPanel = createHistoryPanel({
    deviceId,
    knownConfig: (version) => knownConfigs.get(version),
    canRollback: () => !readOnly,
    rollback: (version) => rollbackTo(version),
  });

  replace(
    container,
    h(
      'div',
      { class: 'zone-editor' },
      h(
        'div',
        { class: 'page-header' },
        h('h1', null, 'Zones of ', h('code', null, deviceId)),
        h('div', { class: 'actions' }, h('a', { href: `#/devices/${encodeURIComponent(deviceId)}` }, 'Back to the device')),
      ),
      h(
        'dl',
        { class: 'zone-versions' },
        h('div', null, h('dt', null, 'Device'), h('dd', null, statusEl)),
        h('div', null, h('dt', null, 'Desired version'), h('dd', null, desiredEl)),
        h('div', null, h('dt', null, 'Applied version'), h('dd', null, appliedEl)),
      ),
      readOnly ? h('p', { class: 'message info' }, 'Signed in with a service account: the zones can be viewed, not changed.') : null,
      h(
        'div',
        { class: 'zone-toolbar', role: 'toolbar', 'aria-label': 'Zone editing' },
        addButton,
        undoButton,
        redoButton,
        deletePointButton,
        field('Sensitivity', sensitivity),
        h('span', { class: 'zone-toolbar-end' }, dirtyEl, exportButton, saveButton),
      ),
      hint,
      message,
      h(
        'div',
        { class: 'zone-layout' },
        h('div', { class: 'zone-drawing' }, svg),
        h(
          'div',
          { class: 'zone-side' },
          h('section', { class: 'zone-errors', 'aria-labelledby': 'zone-errors-title' },
            h('h2', { id: 'zone-errors-title' }, 'Rules'), errorList),
          panel.element,
        ),
      ),
      readOnly ? null : createImportPanel((config) => replaceConfig(config)),
      historyPanel.element,
    ),
  );

  // --- edits --------------------------------------------------------------------

  // Every change of the config goes through here: one undo step (merged
  // with the previous one when `key` is the same), the rules checked again.
  function edit(mutate, key = null) {
    if (readOnly) return;
    const before = clone(state.config);
    mutate(state.config);
    if (same(before, state.config)) return;
    undo.record(before, key);
    changed();
  }

  function changed() {
    state.serverErrors = null;
    if (!state.draft) hint.textContent = '';
    state.ruleErrors = validateZoneConfig(state.config);
    const zones = state.config.zones;
    if (state.selection.zone !== null && !(Array.isArray(zones) && zones[state.selection.zone])) {
      state.selection = { zone: null, vertex: null };
    }
    const z = state.selection.zone !== null ? zones[state.selection.zone] : null;
    if (state.selection.vertex !== null && !(z && Array.isArray(z.points) && state.selection.vertex < z.points.length)) {
      state.selection.vertex = null;
    }
    render();
  }

  function replaceConfig(config) {
    edit((c) => {
      for (const key of Object.keys(c)) delete c[key];
      Object.assign(c, clone(config));
    });
    state.selection = { zone: null, vertex: null };
    render();
  }

  function stepBack() {
    const previous = undo.undo(clone(state.config));
    if (previous) {
      state.config = previous;
      changed();
    }
  }

  function stepForward() {
    const next = undo.redo(clone(state.config));
    if (next) {
      state.config = next;
      changed();
    }
  }

  function select(zone, vertex) {
    state.selection = { zone, vertex };
    undo.seal();
    render();
  }

  function nextFreeId() {
    const used = new Set(state.config.zones.map((z) => z && z.id));
    for (let id = MIN_ZONE_ID; id <= MAX_ZONE_ID; id++) if (!used.has(id)) return id;
    return MAX_ZONE_ID;
  }

  function deleteZone(zi) {
    edit((c) => c.zones.splice(zi, 1));
    state.selection = { zone: null, vertex: null };
    say(h('p', { class: 'message info' }, 'Zone deleted (Undo brings it back).'));
    render();
  }

  function deleteVertex(zi, k) {
    const zone = state.config.zones[zi];
    if (!zone || !Array.isArray(zone.points) || k === null || k === undefined) return;
    if (zone.points.length <= MIN_POINTS) {
      hint.textContent = 'A zone needs at least 3 points: delete the zone instead.';
      return;
    }
    edit((c) => c.zones[zi].points.splice(k, 1));
    state.selection = { zone: zi, vertex: null };
    render();
  }

  function nudge(dx, dy) {
    const { zone: zi, vertex: k } = state.selection;
    const p = state.config.zones[zi].points[k];
    if (!drawable(p)) return;
    const [x, y] = fromSvg(p[0] + dx, -(p[1] + dy));
    edit((c) => { c.zones[zi].points[k] = [x, y]; }, `nudge:${zi}:${k}`);
  }

  // --- drawing a new zone -----------------------------------------------------

  function startDraft() {
    if (readOnly) return;
    if (Array.isArray(state.config.zones) && state.config.zones.length >= MAX_ZONES) {
      hint.textContent = `At most ${MAX_ZONES} zones are allowed.`;
      return;
    }
    state.draft = { points: [], hover: null };
    state.selection = { zone: null, vertex: null };
    hint.textContent = DRAW_HINT;
    svg.focus({ preventScroll: true });
    render();
  }

  function addDraftPoint(p) {
    const pts = state.draft.points;
    if (pts.length >= MAX_POINTS) {
      hint.textContent = `A zone has at most ${MAX_POINTS} points: click the first point or press Enter to finish.`;
      return;
    }
    const last = pts[pts.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) return; // a double click
    pts.push(p);
    render();
  }

  function finishDraft() {
    const pts = state.draft.points;
    if (pts.length < MIN_POINTS) {
      hint.textContent = `A zone needs at least ${MIN_POINTS} points. ${DRAW_HINT}`;
      return;
    }
    const id = nextFreeId();
    state.draft = null;
    hint.textContent = '';
    edit((c) => c.zones.push({ id, name: `Zone ${id}`, type: 'detect', points: pts }));
    select(state.config.zones.length - 1, null);
  }

  function cancelDraft() {
    state.draft = null;
    hint.textContent = '';
    render();
  }

  // --- pointer ----------------------------------------------------------------

  // The SVG point under the pointer, in millimetres (not yet snapped).
  function pointerMm(e) {
    const ctm = svg.getScreenCTM();
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
    return { x: p.x, y: -p.y };
  }
  const snapped = (mm) => fromSvg(mm.x, -mm.y);

  function onPointerDown(e) {
    if (e.button !== 0) return;
    const target = e.target.closest('[data-role]');
    const role = target ? target.dataset.role : null;
    const at = pointerMm(e);
    e.preventDefault();
    svg.focus({ preventScroll: true });
    if (state.draft) {
      if (role === 'draft-first') finishDraft();
      else addDraftPoint(snapped(at));
      return;
    }
    const zi = target ? Number(target.dataset.zone) : null;
    if (role === 'vertex' || role === 'mid') {
      let k = Number(target.dataset.vertex);
      const before = clone(state.config);
      if (role === 'mid' && !readOnly) {
        const pts = state.config.zones[zi].points;
        if (pts.length >= MAX_POINTS) {
          hint.textContent = `A zone has at most ${MAX_POINTS} points.`;
          return;
        }
        pts.splice(k + 1, 0, midpoint(pts[k], pts[(k + 1) % pts.length]));
        k += 1;
      }
      state.selection = { zone: zi, vertex: k };
      startDrag(e, { kind: 'vertex', zone: zi, vertex: k, before });
    } else if (role === 'body') {
      state.selection = { zone: zi, vertex: null };
      const points = state.config.zones[zi].points;
      if (points.every(drawable)) {
        startDrag(e, { kind: 'zone', zone: zi, before: clone(state.config), start: at, origin: clone(points) });
      }
    } else {
      state.selection = { zone: null, vertex: null };
    }
    undo.seal();
    // Only a midpoint changes the config here; the undo step is recorded
    // when the pointer is released.
    state.ruleErrors = validateZoneConfig(state.config);
    render();
  }

  function startDrag(e, drag) {
    if (readOnly) return;
    state.drag = drag;
    svg.setPointerCapture(e.pointerId);
  }

  function onPointerMove(e) {
    if (state.draft) {
      state.draft.hover = snapped(pointerMm(e));
      render();
      return;
    }
    const drag = state.drag;
    if (!drag) return;
    const zone = state.config.zones[drag.zone];
    if (drag.kind === 'vertex') {
      zone.points[drag.vertex] = snapped(pointerMm(e));
    } else {
      const at = pointerMm(e);
      zone.points = translate(drag.origin, at.x - drag.start.x, at.y - drag.start.y);
    }
    state.ruleErrors = validateZoneConfig(state.config);
    render();
  }

  function onPointerUp(e) {
    const drag = state.drag;
    if (!drag) return;
    state.drag = null;
    if (svg.hasPointerCapture(e.pointerId)) svg.releasePointerCapture(e.pointerId);
    if (same(drag.before, state.config)) {
      render();
      return;
    }
    undo.record(drag.before);
    changed();
  }

  function onPointerLeave() {
    if (state.draft && state.draft.hover) {
      state.draft.hover = null;
      render();
    }
  }

  svg.addEventListener('pointerdown', onPointerDown);
  svg.addEventListener('pointermove', onPointerMove);
  svg.addEventListener('pointerup', onPointerUp);
  svg.addEventListener('pointercancel', onPointerUp);
  svg.addEventListener('pointerleave', onPointerLeave);

  // --- keyboard ---------------------------------------------------------------

  const TEXT_FIELDS = 'input, textarea, select, [contenteditable]';
  const CONTROLS = `${TEXT_FIELDS}, button, a, summary`;

  function onKeyDown(e) {
    if (!container.contains(document.activeElement) && document.activeElement !== document.body) return;
    if (document.querySelector('dialog[open]')) return;
    const t = e.target instanceof Element ? e.target : null;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (mod && (key === 'z' || key === 'y')) {
      // In a text field the browser's own undo edits the field (and the
      // config follows through its input event).
      if (t && t.matches(TEXT_FIELDS)) return;
      e.preventDefault();
      if (key === 'y' || e.shiftKey) stepForward();
      else stepBack();
      return;
    }
    if (mod || e.altKey || (t && t.matches(CONTROLS))) return;
    if (state.draft) {
      if (e.key === 'Enter') finishDraft();
      else if (e.key === 'Escape') cancelDraft();
      else if (e.key === 'Backspace') {
        state.draft.points.pop();
        render();
      } else return;
      e.preventDefault();
      return;
    }
    const { zone, vertex } = state.selection;
    if ((e.key === 'Delete' || e.key === 'Backspace') && vertex !== null) {
      deleteVertex(zone, vertex);
    } else if (e.key === 'Escape' && zone !== null) {
      select(null, null);
    } else if (vertex !== null && e.key.startsWith('Arrow') && t === svg) {
      const step = e.shiftKey ? NUDGE_BIG_MM : NUDGE_MM;
      const [dx, dy] = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[e.key];
      nudge(dx, dy);
    } else return;
    e.preventDefault();
  }
  document.addEventListener('keydown', onKeyDown);

  // --- rendering --------------------------------------------------------------

  function errors() {
    return state.serverErrors || state.ruleErrors;
  }

  // The zones and vertices the errors blame, for the drawing.
  function flagged(list) {
    const zones = new Set();
    const vertices = new Map();
    for (const e of list) {
      const { zone, vertex } = locatePointer(e.pointer);
      if (zone === null) continue;
      zones.add(zone);
      if (vertex !== null) {
        if (!vertices.has(zone)) vertices.set(zone, new Set());
        vertices.get(zone).add(vertex);
      }
    }
    return { zones, vertices };
  }

  function unitNow() {
    const ctm = svg.getScreenCTM();
    return ctm && ctm.a > 0 ? 1 / ctm.a : (FIELD.maxX - FIELD.minX) / 800;
  }

  function render() {
    if (state.destroyed) return;
    const unit = unitNow();
    if (drawnUnit === null || Math.abs(unit - drawnUnit) / drawnUnit > 0.05) {
      fieldLayer.replaceChildren();
      drawField(fieldLayer, unit);
      drawnUnit = unit;
    }
    const list = errors();
    zoneLayer.replaceChildren();
    drawZones(zoneLayer, state.config, {
      selectedZone: state.selection.zone,
      selectedVertex: state.selection.vertex,
      flagged: flagged(list),
      unit,
      handleRadius: HANDLE_PX(),
      interactive: true,
      hatch: svg.dataset.hatch,
    });
    if (state.draft) drawDraft(zoneLayer, state.draft, { unit, handleRadius: HANDLE_PX() });
    svg.classList.toggle('drawing', Boolean(state.draft));
    panel.update(state.config, state.selection, readOnly);
    renderErrors(list);
    renderControls(list);
  }

  function zoneLabel(zi) {
    const z = Array.isArray(state.config.zones) ? state.config.zones[zi] : null;
    return z && typeof z.name === 'string' && z.name ? `“${z.name}”` : `zone ${zi}`;
  }

  function renderErrors(list) {
    if (!list.length) {
      replace(errorList, h('li', { class: 'zone-rules-ok' }, 'Every rule is met.'));
      return;
    }
    replace(
      errorList,
      list.map((e) => {
        const { zone, vertex } = locatePointer(e.pointer);
        const where = zone === null ? 'Config' : vertex === null ? zoneLabel(zone) : `${zoneLabel(zone)}, point ${vertex}`;
        return h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: 'zone-error',
              'data-testid': 'zone-error',
              dataset: {
                pointer: e.pointer,
                ...(zone !== null ? { zone } : {}),
                ...(vertex !== null ? { vertex } : {}),
              },
              onclick: () => {
                if (zone !== null) select(zone, vertex);
              },
            },
            h('span', { class: 'zone-error-where' }, `${where}: `),
            e.detail,
            ' ',
            h('code', null, e.pointer || '(the document)'),
          ),
        );
      }),
    );
  }

  function renderControls(list) {
    const dirty = state.baseline !== null && JSON.stringify(state.config) !== state.baseline;
    const zoneCount = Array.isArray(state.config.zones) ? state.config.zones.length : 0;
    addButton.disabled = readOnly || Boolean(state.draft) || zoneCount >= MAX_ZONES;
    undoButton.disabled = readOnly || !undo.canUndo;
    redoButton.disabled = readOnly || !undo.canRedo;
    deletePointButton.disabled = readOnly || state.selection.vertex === null;
    exportButton.disabled = state.baseline === null;
    sensitivity.disabled = readOnly;
    if (document.activeElement !== sensitivity) {
      const s = state.config.sensitivity;
      sensitivity.value = s === undefined ? String(DEFAULT_SENSITIVITY) : String(s);
    }
    // A config that breaks a rule is never sent: the server would refuse it.
    saveButton.disabled = readOnly || state.saving || !dirty || list.length > 0 || state.baseline === null;
    saveButton.title = list.length ? 'Fix the problems listed under Rules first' : dirty ? '' : 'Nothing changed';
    dirtyEl.textContent = dirty ? 'Unsaved changes' : '';
  }

  function say(...children) {
    replace(message, ...children);
  }

  // --- the device's answer ----------------------------------------------------

  function showVersions(show) {
    state.show = show;
    desiredEl.textContent = show.desired_version === null ? '—' : String(show.desired_version);
    appliedEl.textContent = show.applied_version === null ? '—' : String(show.applied_version);
    statusEl.dataset.status = show.status || 'none';
    if (show.status === null) statusEl.textContent = 'no zones sent yet';
    else if (show.status === 'rejected') statusEl.textContent = state.rejection ? `rejected: ${state.rejection}` : 'rejected';
    else statusEl.textContent = show.status;
    if (show.status === 'rejected' && state.rejection === null) {
      const version = show.desired_version;
      rejectionReason(deviceId, version)
        .then((reason) => {
          if (state.destroyed || !state.show || state.show.desired_version !== version || !reason) return;
          state.rejection = reason;
          showVersions(state.show);
        })
        .catch(() => {}); // the status alone still says "rejected"
    }
  }

  const settled = (show) => show.status !== 'pending' || show.applied_version === show.desired_version;

  // Polls zone show every 2 s until the device has answered the desired
  // version. Not with If-None-Match: the ETag names the desired version
  // only, so it would answer 304 through the device's answer too.
  function watch() {
    clearTimeout(pollTimer);
    if (state.destroyed || !state.show || settled(state.show)) return;
    pollTimer = setTimeout(async () => {
      try {
        const { show } = await loadZones(deviceId);
        if (state.destroyed) return;
        if (pollProblem && message.contains(pollProblem)) say();
        if (!state.show || show.desired_version !== state.show.desired_version) state.rejection = null;
        showVersions(show);
        if (settled(show)) {
          // "Waiting for the device" is over: the status says what it did.
          if (waitingNote && message.contains(waitingNote)) say();
          historyPanel.refresh();
        }
      } catch (err) {
        // Said until the next poll gets through; polling goes on.
        if (!state.destroyed) {
          pollProblem = problemMessage(err);
          say(pollProblem);
        }
      }
      watch();
    }, POLL_MS);
  }

  // --- load and save ----------------------------------------------------------

  function adopt({ show, etag }) {
    state.etag = etag;
    state.rejection = null;
    state.config = show.config ? clone(show.config) : { zones: [] };
    state.baseline = JSON.stringify(state.config);
    if (show.desired_version !== null && show.config) knownConfigs.set(show.desired_version, clone(show.config));
    state.selection = { zone: null, vertex: null };
    state.draft = null;
    undo.clear();
    showVersions(show);
    changed();
    watch();
  }

  async function load() {
    adopt(await loadZones(deviceId));
    historyPanel.refresh();
  }

  async function save() {
    if (state.saving || errors().length) return;
    state.saving = true;
    renderControls(errors());
    say(h('p', { class: 'message info' }, 'Saving…'));
    const sent = clone(state.config);
    try {
      const { show, etag } = await saveZones(deviceId, sent, state.etag);
      if (state.destroyed) return;
      state.etag = etag;
      state.rejection = null;
      state.baseline = JSON.stringify(sent);
      knownConfigs.set(show.desired_version, sent);
      showVersions(show);
      waitingNote = h('p', { class: 'message success' }, `Saved as version ${show.desired_version}; waiting for the device to apply it.`);
      say(waitingNote);
      watch();
      historyPanel.refresh();
    } catch (err) {
      if (state.destroyed) return;
      if (err.status === 412) offerReload(err);
      else if (err.status === 422 && err.errors.length) {
        state.serverErrors = err.errors;
        say(problemMessage(err));
      } else say(problemMessage(err));
    } finally {
      state.saving = false;
      render();
    }
  }

  // Another save came first: say so, and offer to load it.
  function offerReload(err) {
    say(
      h(
        'div',
        { class: 'zone-conflict' },
        problemMessage(err),
        h('p', null, 'Someone else changed these zones since you loaded them. Your changes are not saved.'),
        h('button', { type: 'button', class: 'primary', 'data-testid': 'zone-reload', onclick: () => reload() }, 'Load their version'),
      ),
    );
  }

  async function reload() {
    const dirty = JSON.stringify(state.config) !== state.baseline;
    if (dirty && !(await confirmDialog('Discard your unsaved changes and load the zones as they are saved now?', 'Discard and load'))) {
      return;
    }
    try {
      await load();
      say(h('p', { class: 'message info' }, `Loaded version ${state.show.desired_version ?? '—'}.`));
    } catch (err) {
      say(problemMessage(err));
    }
  }

  async function rollbackTo(version) {
    const result = await rollBack(deviceId, version);
    if (state.destroyed) return;
    adopt(result);
    say(h('p', { class: 'message success' }, `Version ${version} stored again as version ${result.show.desired_version}.`));
    historyPanel.refresh();
  }

  // Redraw at the new scale when the drawing changes size (a window resize,
  // a phone turned), so handles and labels keep their size in pixels.
  const resize = new ResizeObserver(() => render());
  resize.observe(svg);

  try {
    await load();
  } catch (err) {
    say(problemMessage(err));
  }

  return {
    destroy() {
      state.destroyed = true;
      clearTimeout(pollTimer);
      resize.disconnect();
      document.removeEventListener('keydown', onKeyDown);
    },
  };
}

// The side panel of the editor: the list of zones, and the form of the
// selected one (name, type, id, its vertices as a table of x, y inputs,
// delete). The same edits as on the drawing, for the keyboard and for exact
// numbers. It is rebuilt only when its structure changes (another zone
// selected, a vertex added or removed), so the field being typed in keeps
// its focus; otherwise the values are brought up to date in place.

import { h, replace, field } from '../ui.js';

// What a typed value becomes in the config: a number when it reads as one,
// else the text as typed, so the rules report it ("x must be an integer").
export function typedValue(text) {
  const t = text.trim();
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return text;
}

const shown = (v) => (v === undefined || v === null ? '' : String(v));

// `actions`: select(zone), selectVertex(zone, vertex), edit(mutate, key),
// deleteZone(zone), deleteVertex(zone, vertex).
export function createZonePanel(actions) {
  const list = h('ul', { class: 'zone-list', 'aria-label': 'Zones' });
  const form = h('div', { class: 'zone-form' });
  const element = h('section', { class: 'zone-panel', 'aria-labelledby': 'zone-panel-title' },
    h('h2', { id: 'zone-panel-title' }, 'Zones'), list, form);

  let listKey = null;
  let formKey = null;
  let inputs = null; // the form's inputs, to update in place

  function update(config, selection, readOnly) {
    const zones = Array.isArray(config.zones) ? config.zones : [];
    const nextListKey = JSON.stringify([zones.map((z) => [z && z.name, z && z.type, z && z.id]), selection.zone, readOnly]);
    if (nextListKey !== listKey) {
      listKey = nextListKey;
      renderList(zones, selection);
    }
    const zone = zones[selection.zone];
    const points = zone && Array.isArray(zone.points) ? zone.points : [];
    // The selected vertex is not part of the structure: focusing a point's
    // input selects it, and rebuilding then would take the focus away.
    const nextFormKey = JSON.stringify([selection.zone, zone ? points.length : -1, zones.length > 0, readOnly]);
    if (nextFormKey !== formKey) {
      formKey = nextFormKey;
      renderForm(zone, selection.zone, zones.length > 0, readOnly);
    } else if (zone) {
      syncValues(zone);
    }
    if (inputs) inputs.rows.forEach((row, k) => row.classList.toggle('selected', k === selection.vertex));
  }

  function renderList(zones, selection) {
    if (!zones.length) {
      replace(list, h('li', { class: 'muted' }, 'No zones yet: add one and click its corners on the drawing.'));
      return;
    }
    replace(
      list,
      zones.map((z, i) =>
        h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: `zone-list-item ${z && z.type === 'exclude' ? 'exclude' : 'detect'}`,
              'aria-pressed': String(i === selection.zone),
              'data-testid': 'zone-list-item',
              dataset: { zone: i },
              onclick: () => actions.select(i),
            },
            h('span', { class: 'swatch', 'aria-hidden': 'true' }),
            `${z && typeof z.name === 'string' && z.name ? z.name : '(no name)'} `,
            h('span', { class: 'muted' }, `#${shown(z && z.id)} ${z && z.type === 'exclude' ? 'exclude' : 'detect'}`),
          ),
        ),
      ),
    );
  }

  function renderForm(zone, zi, anyZones, readOnly) {
    inputs = null;
    if (!zone || typeof zone !== 'object') {
      replace(form, anyZones ? h('p', { class: 'muted' }, 'Select a zone to edit it.') : null);
      return;
    }
    // Typing in one field is one undo step; a choice in a list is one each.
    const edit = (key, apply) => (e) =>
      actions.edit((c) => apply(c.zones[zi], e.target), key === null ? null : `${key}:${zi}`);
    const name = h('input', {
      type: 'text', value: shown(zone.name), 'data-testid': 'zone-name', disabled: readOnly, autocomplete: 'off',
      oninput: edit('name', (z, t) => { z.name = t.value; }),
    });
    const type = h(
      'select',
      { 'data-testid': 'zone-type', disabled: readOnly, value: shown(zone.type), onchange: edit(null, (z, t) => { z.type = t.value; }) },
      h('option', { value: 'detect' }, 'detect'),
      h('option', { value: 'exclude' }, 'exclude'),
    );
    const id = h('input', {
      type: 'number', min: 1, max: 255, step: 1, value: shown(zone.id), 'data-testid': 'zone-id', disabled: readOnly,
      oninput: edit('id', (z, t) => { z.id = typedValue(t.value); }),
    });
    const points = Array.isArray(zone.points) ? zone.points : [];
    const cells = points.map((p, k) => {
      const coord = (axis) =>
        h('input', {
          type: 'number', step: 1, value: shown(Array.isArray(p) ? p[axis] : ''), disabled: readOnly,
          'aria-label': `point ${k} ${axis ? 'y' : 'x'} (mm)`,
          'data-testid': axis ? 'vertex-y' : 'vertex-x',
          dataset: { vertex: k },
          oninput: edit(`point${k}.${axis}`, (z, t) => {
            if (Array.isArray(z.points[k])) z.points[k][axis] = typedValue(t.value);
          }),
          onfocus: () => actions.selectVertex(zi, k),
        });
      return { x: coord(0), y: coord(1), k };
    });
    const rows = cells.map(({ x, y, k }) =>
      h(
        'tr',
        { dataset: { vertex: k } },
        h('th', { scope: 'row' }, String(k)),
        h('td', null, x),
        h('td', null, y),
        h('td', null, h('button', {
          type: 'button', class: 'secondary small', disabled: readOnly || points.length <= 3,
          title: points.length <= 3 ? 'a zone needs at least 3 points' : null,
          'aria-label': `delete point ${k}`, 'data-testid': 'vertex-delete', dataset: { vertex: k },
          onclick: () => actions.deleteVertex(zi, k),
        }, '×')),
      ),
    );
    inputs = { name, type, id, cells, rows };
    replace(
      form,
      h('h3', null, 'Zone'),
      h('div', { class: 'zone-fields' }, field('Name', name), field('Type', type), field('Id', id)),
      h(
        'table',
        { class: 'vertex-table' },
        h('caption', null, 'Points (millimetres)'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'x'), h('th', { scope: 'col' }, 'y'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'delete')))),
        h('tbody', null, rows),
      ),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'zone-delete', disabled: readOnly, onclick: () => actions.deleteZone(zi) }, 'Delete zone'),
    );
  }

  // New values (a drag, an undo) without rebuilding: fields being typed in
  // are left alone.
  function syncValues(zone) {
    if (!inputs) return;
    const set = (input, value) => {
      if (document.activeElement !== input && input.value !== shown(value)) input.value = shown(value);
    };
    set(inputs.name, zone.name);
    set(inputs.type, zone.type);
    set(inputs.id, zone.id);
    inputs.cells.forEach(({ x, y, k }) => {
      const p = Array.isArray(zone.points) ? zone.points[k] : null;
      set(x, Array.isArray(p) ? p[0] : '');
      set(y, Array.isArray(p) ? p[1] : '');
    });
  }

  return { element, update };
}

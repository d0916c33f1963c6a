// The SVG of the field of view and its zones: a 1 m grid with axis labels,
// the sensor at the bottom centre, a scale bar, the zones (detect filled,
// exclude hatched and dashed), the handles of the selected zone and the
// marks of every vertex a rule blames. Used by the editor (interactive) and
// by the version history (small previews). Elements carry data-role,
// data-zone and data-vertex so the editor's pointer handling can tell what
// was hit.

import { FIELD, GRID_MM, PREVIEW_VIEWBOX, viewBox, toSvg, svgPoints, drawable, midpoint, labelPoint } from './geometry.js';

const NS = 'http://www.w3.org/2000/svg';
let patternCount = 0;

export function svgEl(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

// A fresh <svg> with the hatch pattern exclusion zones are filled with;
// its id is unique in the page (previews and the editor share a document).
export function createCanvas({ preview = false } = {}) {
  const hatchId = `zone-hatch-${++patternCount}`;
  const svg = svgEl('svg', {
    xmlns: NS,
    viewBox: preview ? PREVIEW_VIEWBOX : viewBox(),
    preserveAspectRatio: 'xMidYMid meet',
    class: preview ? 'zone-preview' : 'zone-canvas',
  });
  const hatch = svgEl(
    'pattern',
    { id: hatchId, patternUnits: 'userSpaceOnUse', width: 160, height: 160, patternTransform: 'rotate(45)' },
    svgEl('rect', { width: 160, height: 160, class: 'hatch-ground' }),
    svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 160, class: 'hatch-line' }),
  );
  svg.append(svgEl('defs', {}, hatch));
  svg.dataset.hatch = hatchId;
  return svg;
}

// The grid, the axes' labels, the sensor and a 1 m scale bar. `unit` is the
// millimetres one CSS pixel covers, so text stays readable at any size.
export function drawField(layer, unit) {
  const font = 12 * unit;
  const g = svgEl('g', { class: 'field' });
  g.append(
    svgEl('rect', {
      class: 'field-area',
      x: FIELD.minX,
      y: -FIELD.maxY,
      width: FIELD.maxX - FIELD.minX,
      height: FIELD.maxY - FIELD.minY,
    }),
  );
  // Metres as plain numbers (the scale bar says "1 m"); every other metre
  // on x when a metre is too narrow on screen for its label (a phone).
  const labelStep = GRID_MM / unit < 60 ? 2 * GRID_MM : GRID_MM;
  for (let x = FIELD.minX; x <= FIELD.maxX; x += GRID_MM) {
    g.append(svgEl('line', { class: x === 0 ? 'grid axis' : 'grid', x1: x, y1: -FIELD.minY, x2: x, y2: -FIELD.maxY }));
    // The sensor marks the origin, so 0 needs no label.
    if (x === 0 || (x - FIELD.minX) % labelStep !== 0) continue;
    g.append(
      svgEl('text', { class: 'label', x, y: -FIELD.minY + font * 1.2, 'font-size': font, 'text-anchor': 'middle' },
        document.createTextNode(String(x / GRID_MM))),
    );
  }
  for (let y = FIELD.minY; y <= FIELD.maxY; y += GRID_MM) {
    g.append(svgEl('line', { class: y === 0 ? 'grid axis' : 'grid', x1: FIELD.minX, y1: -y, x2: FIELD.maxX, y2: -y }));
    if (y > 0) {
      g.append(
        svgEl('text', { class: 'label', x: FIELD.minX - font * 0.5, y: -y + font * 0.35, 'font-size': font, 'text-anchor': 'end' },
          document.createTextNode(String(y / GRID_MM))),
      );
    }
  }
  // The sensor: a small wedge looking up into the field.
  const s = 10 * unit;
  g.append(
    svgEl('path', { class: 'sensor', d: `M 0 0 L ${-s} ${s} L ${s} ${s} Z` }, svgEl('title', {}, document.createTextNode('sensor'))),
  );
  // Scale bar: 1 m, in the top right corner of the field.
  const bx = FIELD.maxX - GRID_MM - font;
  const by = -FIELD.maxY + font * 1.2;
  g.append(
    svgEl('g', { class: 'scale-bar' },
      svgEl('line', { x1: bx, y1: by, x2: bx + GRID_MM, y2: by }),
      svgEl('line', { x1: bx, y1: by - font * 0.4, x2: bx, y2: by + font * 0.4 }),
      svgEl('line', { x1: bx + GRID_MM, y1: by - font * 0.4, x2: bx + GRID_MM, y2: by + font * 0.4 }),
      svgEl('text', { class: 'label', x: bx - font * 0.4, y: by + font * 0.35, 'font-size': font, 'text-anchor': 'end' },
        document.createTextNode('1 m'))),
  );
  layer.append(g);
}

// Every zone that can be drawn. `view`: {selectedZone, selectedVertex,
// flagged: {zones:Set, vertices:Map(zone -> Set)}, unit, interactive, hatch}.
export function drawZones(layer, config, view) {
  const zones = config && Array.isArray(config.zones) ? config.zones : [];
  const unit = view.unit;
  zones.forEach((zone, zi) => {
    if (!zone || !Array.isArray(zone.points)) return;
    const pts = zone.points.filter(drawable);
    if (pts.length < 2) return;
    const exclude = zone.type === 'exclude';
    const classes = ['zone', exclude ? 'exclude' : 'detect'];
    if (zi === view.selectedZone) classes.push('selected');
    if (view.flagged && view.flagged.zones.has(zi)) classes.push('has-error');
    const body = svgEl('polygon', {
      class: classes.join(' '),
      points: svgPoints(pts),
      fill: exclude ? `url(#${view.hatch})` : null,
      dataset: { role: 'body', zone: zi },
    });
    const label = `${typeof zone.name === 'string' ? zone.name : 'zone'} (${exclude ? 'exclude' : 'detect'})`;
    body.append(svgEl('title', {}, document.createTextNode(label)));
    const g = svgEl('g', { class: 'zone-group' }, body);
    if (view.interactive) {
      const [lx, ly] = toSvg(labelPoint(pts));
      g.append(svgEl('text', { class: 'zone-label', x: lx, y: ly, 'font-size': 12 * unit, 'text-anchor': 'middle' },
        document.createTextNode(typeof zone.name === 'string' ? zone.name : '')));
    }
    layer.append(g);
  });
  if (!view.interactive) return;
  // Error marks on top of every zone, handles of the selected one on top of all.
  zones.forEach((zone, zi) => {
    const bad = view.flagged && view.flagged.vertices.get(zi);
    if (!bad || !zone || !Array.isArray(zone.points)) return;
    for (const k of bad) {
      const p = zone.points[k];
      if (!drawable(p)) continue;
      const [x, y] = toSvg(p);
      layer.append(svgEl('circle', { class: 'vertex-error', cx: x, cy: y, r: 11 * unit }));
    }
  });
  const zone = zones[view.selectedZone];
  if (zone && Array.isArray(zone.points) && zone.points.every(drawable)) {
    drawHandles(layer, zone.points, view);
  }
}

function drawHandles(layer, points, view) {
  const r = view.handleRadius * view.unit;
  const n = points.length;
  points.forEach((p, k) => {
    const q = points[(k + 1) % n];
    const [mx, my] = toSvg(midpoint(p, q));
    const mid = svgEl('rect', {
      class: 'midpoint',
      x: mx - r * 0.7,
      y: my - r * 0.7,
      width: r * 1.4,
      height: r * 1.4,
      dataset: { role: 'mid', zone: view.selectedZone, vertex: k },
    });
    mid.append(svgEl('title', {}, document.createTextNode(`insert a point between point ${k} and point ${(k + 1) % n}`)));
    layer.append(mid);
  });
  points.forEach((p, k) => {
    const [x, y] = toSvg(p);
    const classes = ['vertex'];
    if (k === view.selectedVertex) classes.push('selected');
    if (view.flagged && view.flagged.vertices.get(view.selectedZone)?.has(k)) classes.push('has-error');
    const handle = svgEl('circle', {
      class: classes.join(' '),
      cx: x,
      cy: y,
      r,
      dataset: { role: 'vertex', zone: view.selectedZone, vertex: k },
    });
    handle.append(svgEl('title', {}, document.createTextNode(`point ${k}: ${p[0]}, ${p[1]} mm`)));
    layer.append(handle);
  });
}

// The polygon being drawn: its vertices, the edges so far, and a line from
// the last vertex to the pointer. The first vertex closes the polygon.
export function drawDraft(layer, draft, view) {
  const r = view.handleRadius * view.unit;
  const pts = draft.hover ? [...draft.points, draft.hover] : draft.points;
  if (pts.length >= 2) layer.append(svgEl('polyline', { class: 'draft-line', points: svgPoints(pts) }));
  draft.points.forEach((p, k) => {
    const [x, y] = toSvg(p);
    const closes = k === 0 && draft.points.length >= 3;
    const dot = svgEl('circle', {
      class: closes ? 'draft-vertex draft-first' : 'draft-vertex',
      cx: x,
      cy: y,
      r: closes ? r * 1.3 : r,
      dataset: closes ? { role: 'draft-first' } : {},
    });
    if (closes) dot.append(svgEl('title', {}, document.createTextNode('close the zone here')));
    layer.append(dot);
  });
}

// A small picture of a config, for the version history.
export function zonePreview(config, label) {
  const svg = createCanvas({ preview: true });
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.append(
    svgEl('rect', { class: 'field-area', x: FIELD.minX, y: -FIELD.maxY, width: FIELD.maxX - FIELD.minX, height: FIELD.maxY - FIELD.minY }),
  );
  drawZones(svg, config, { interactive: false, hatch: svg.dataset.hatch, unit: 1 });
  return svg;
}

// The field of view and the plain geometry the editor needs: millimetres to
// SVG user units and back, snapping and clamping to the field, moving a
// polygon without pushing any vertex out. The SVG works in millimetres with
// y negated, so the sensor (the origin) sits at the bottom centre and y
// grows upwards, away from the sensor. Pure functions; points are [x, y].

import { MIN_X, MAX_X, MIN_Y, MAX_Y } from './rules.js';

export const FIELD = { minX: MIN_X, maxX: MAX_X, minY: MIN_Y, maxY: MAX_Y };
export const GRID_MM = 1000;
// Room around the field for the axis labels.
const MARGIN = { left: 550, right: 300, top: 250, bottom: 550 };

// The viewBox of the whole drawing, in SVG user units (mm, y negated).
export function viewBox(margin = MARGIN) {
  const x = FIELD.minX - margin.left;
  const y = -FIELD.maxY - margin.top;
  const w = FIELD.maxX - FIELD.minX + margin.left + margin.right;
  const hgt = FIELD.maxY - FIELD.minY + margin.top + margin.bottom;
  return `${x} ${y} ${w} ${hgt}`;
}

// A preview has no labels, only a thin border.
export const PREVIEW_VIEWBOX = viewBox({ left: 100, right: 100, top: 100, bottom: 100 });

export const toSvg = ([x, y]) => [x, -y];

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// A point of the field from SVG user units: whole millimetres, inside the field.
export function fromSvg(sx, sy) {
  return [clamp(Math.round(sx), FIELD.minX, FIELD.maxX), clamp(Math.round(-sy), FIELD.minY, FIELD.maxY)];
}

// The "x,y x,y …" of an SVG polygon or polyline.
export function svgPoints(points) {
  return points
    .filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .map((p) => toSvg(p).join(','))
    .join(' ');
}

// Whether p is a finite [x, y] that can be drawn (an imported or typed
// point may be anything until the rules accept it).
export const drawable = (p) => Array.isArray(p) && p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]);

// The middle of the edge from a to b, in whole millimetres.
export const midpoint = (a, b) => [Math.round((a[0] + b[0]) / 2), Math.round((a[1] + b[1]) / 2)];

// The points moved by (dx, dy), the move shortened so that every vertex
// stays inside the field: the zone keeps its shape at the border.
export function translate(points, dx, dy) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const mx = clamp(Math.round(dx), FIELD.minX - Math.min(...xs), FIELD.maxX - Math.max(...xs));
  const my = clamp(Math.round(dy), FIELD.minY - Math.min(...ys), FIELD.maxY - Math.max(...ys));
  return points.map(([x, y]) => [x + mx, y + my]);
}

// Where to write a zone's name: the mean of its vertices (inside for every
// convex zone, near enough for a label otherwise).
export function labelPoint(points) {
  const n = points.length;
  return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
}

// The zone config rules of SPEC §6, checked in the browser before anything
// is sent. A port of the server's checker
// (plugin/features/zones/zone_config.cpp): the same rules, the same JSON
// pointers, the same sentences, in the same order, so an error the editor
// shows as the user draws is word for word the one a save would get back
// in a 422. test/browser/zone_rules.test.mjs compares the two against a
// running broker. Pure functions over plain JSON values: no DOM.
//
// What JSON.parse hides from a port: the server tells 1 from 1.0 and 1e3
// (only the first is an integer), and refuses duplicate keys (400). A
// config the editor builds never has either; an imported file that does is
// refused by the server on save, and its answer is shown like any other.

export const MAX_ZONES = 16;
export const MIN_ZONE_ID = 1;
export const MAX_ZONE_ID = 255;
export const MIN_NAME_CHARS = 1;
export const MAX_NAME_CHARS = 32;
export const MIN_POINTS = 3;
export const MAX_POINTS = 16;
export const MIN_X = -6000; // millimetres, right of the sensor
export const MAX_X = 6000;
export const MIN_Y = 0; // millimetres, away from the sensor
export const MAX_Y = 6000;
export const MIN_SENSITIVITY = 1;
export const MAX_SENSITIVITY = 10;
export const DEFAULT_SENSITIVITY = 5;

const ZONE_KEYS = new Set(['id', 'name', 'type', 'points']);
const CONFIG_KEYS = new Set(['zones', 'sensitivity']);

// One reference token of a JSON pointer (RFC 6901): "~" as "~0", "/" as "~1".
export function jsonPointerToken(key) {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// The server keeps an object's keys in a std::map, so it reports unknown
// keys in byte order of their UTF-8, which is code point order (not the
// UTF-16 order of a plain sort).
function compareCodePoints(a, b) {
  const ca = Array.from(a, (c) => c.codePointAt(0));
  const cb = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i] - cb[i];
  }
  return ca.length - cb.length;
}

function keysInServerOrder(object) {
  return Object.keys(object).sort(compareCodePoints);
}

function has(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function isInteger(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

function rangeText(lo, hi) {
  return `${lo}..${hi}`;
}

// Unicode characters, as the server counts them in UTF-8.
function characters(s) {
  return Array.from(s).length;
}

// Every broken rule of SPEC §6 as {pointer, detail}, in document order;
// empty when the config is valid.
export function validateZoneConfig(config) {
  const errors = [];
  const error = (pointer, detail) => errors.push({ pointer, detail });

  if (!isObject(config)) {
    error('', 'a zone config must be a JSON object {"zones":[…],"sensitivity":N}');
    return errors;
  }
  for (const key of keysInServerOrder(config)) {
    if (!CONFIG_KEYS.has(key)) {
      error('/' + jsonPointerToken(key), 'unknown key (a zone config has zones and sensitivity)');
    }
  }
  if (!has(config, 'zones')) {
    error('/zones', 'zones is required (an array of 0 to 16 zones)');
  } else if (!Array.isArray(config.zones)) {
    error('/zones', 'zones must be an array of 0 to 16 zones');
  } else {
    const zones = config.zones;
    if (zones.length > MAX_ZONES) {
      error('/zones', `at most 16 zones are allowed (there are ${zones.length})`);
    }
    const firstWithId = new Map(); // id -> first zone index with it
    zones.forEach((zone, i) => checkZone(zone, i, firstWithId, error));
  }
  if (has(config, 'sensitivity')) {
    const s = config.sensitivity;
    if (!isInteger(s) || s < MIN_SENSITIVITY || s > MAX_SENSITIVITY) {
      error(
        '/sensitivity',
        'sensitivity must be an integer within ' + rangeText(MIN_SENSITIVITY, MAX_SENSITIVITY),
      );
    }
  }
  return errors;
}

// True when v is an integer within lo..hi; otherwise says why at pointer.
function checkCoordinate(v, pointer, axis, lo, hi, error) {
  if (!isInteger(v)) {
    error(pointer, `${axis} must be an integer (millimetres)`);
    return false;
  }
  if (v < lo || v > hi) {
    error(pointer, `${axis} must be within ${rangeText(lo, hi)}`);
    return false;
  }
  return true;
}

function checkZone(zone, index, firstWithId, error) {
  const at = `/zones/${index}`;
  if (!isObject(zone)) {
    error(at, 'a zone must be a JSON object {"id","name","type","points"}');
    return;
  }
  for (const key of keysInServerOrder(zone)) {
    if (!ZONE_KEYS.has(key)) {
      error(`${at}/${jsonPointerToken(key)}`, 'unknown key (a zone has id, name, type and points)');
    }
  }

  if (!has(zone, 'id')) {
    error(`${at}/id`, 'id is required (an integer within 1..255)');
  } else {
    const id = zone.id;
    if (!isInteger(id) || id < MIN_ZONE_ID || id > MAX_ZONE_ID) {
      error(`${at}/id`, 'id must be an integer within ' + rangeText(MIN_ZONE_ID, MAX_ZONE_ID));
    } else if (firstWithId.has(id)) {
      error(`${at}/id`, `id ${id} is already used by /zones/${firstWithId.get(id)}`);
    } else {
      firstWithId.set(id, index);
    }
  }

  if (!has(zone, 'name')) {
    error(`${at}/name`, 'name is required (1 to 32 characters)');
  } else if (typeof zone.name !== 'string') {
    error(`${at}/name`, 'name must be a string of 1 to 32 characters');
  } else {
    const chars = characters(zone.name);
    if (chars < MIN_NAME_CHARS || chars > MAX_NAME_CHARS) {
      error(`${at}/name`, `name must be 1 to 32 characters (it has ${chars})`);
    }
  }

  if (!has(zone, 'type')) {
    error(`${at}/type`, 'type is required ("detect" or "exclude")');
  } else if (zone.type !== 'detect' && zone.type !== 'exclude') {
    error(`${at}/type`, 'type must be "detect" or "exclude"');
  }

  if (!has(zone, 'points')) {
    error(`${at}/points`, 'points is required (3 to 16 [x,y] vertices)');
    return;
  }
  const points = zone.points;
  if (!Array.isArray(points)) {
    error(`${at}/points`, 'points must be an array of 3 to 16 [x,y] vertices');
    return;
  }
  let usable = true;
  if (points.length < MIN_POINTS || points.length > MAX_POINTS) {
    error(`${at}/points`, `a zone needs 3 to 16 points (it has ${points.length})`);
    usable = false;
  }
  const polygon = [];
  points.forEach((p, k) => {
    const pat = `${at}/points/${k}`;
    if (!Array.isArray(p) || p.length !== 2) {
      error(pat, 'a point must be an array [x, y] of two integers (millimetres)');
      usable = false;
      return;
    }
    const xOk = checkCoordinate(p[0], `${pat}/0`, 'x', MIN_X, MAX_X, error);
    const yOk = checkCoordinate(p[1], `${pat}/1`, 'y', MIN_Y, MAX_Y, error);
    if (!xOk || !yOk) {
      usable = false;
      return;
    }
    polygon.push({ x: p[0], y: p[1] });
  });
  // The shape is judged only once every vertex is one.
  if (!usable) return;
  for (const problem of simplePolygonProblems(polygon)) {
    error(problem.vertex === null ? `${at}/points` : `${at}/points/${problem.vertex}`, problem.detail);
  }
}

// --- exact geometry ---------------------------------------------------------
// Coordinates are whole millimetres within ±6000, so every product below is
// an exact integer in a double (far below 2^53), as in the server's int64.

function cross(o, a, b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

function orientation(a, b, c) {
  const v = cross(a, b, c);
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

// p, known to be collinear with segment ab, lies on it (endpoints included).
function within(a, b, p) {
  return (
    Math.min(a.x, b.x) <= p.x &&
    p.x <= Math.max(a.x, b.x) &&
    Math.min(a.y, b.y) <= p.y &&
    p.y <= Math.max(a.y, b.y)
  );
}

function onSegment(a, b, p) {
  return orientation(a, b, p) === 0 && within(a, b, p);
}

const pointName = (i) => `point ${i}`;
const edgeName = (i, n) => `the edge from point ${i} to point ${(i + 1) % n}`;

// Why the closed polygon through points ({x,y} in whole millimetres) is not
// simple: [{vertex, detail}], vertex null when no one vertex is to blame.
// No repeated vertex, not all on one line, no edge turning back along the
// previous one, no two non-adjacent edges sharing a point. A vertex in the
// straight middle of two collinear edges is allowed; either winding is.
export function simplePolygonProblems(p) {
  const problems = [];
  const n = p.length;
  if (n < 3) {
    problems.push({ vertex: null, detail: 'a polygon needs at least 3 points' });
    return problems;
  }
  // A repeated vertex makes a zero-length edge or a pinch: say that, and
  // nothing that follows from it.
  for (let j = 1; j < n; j++) {
    for (let i = 0; i < j; i++) {
      if (p[i].x === p[j].x && p[i].y === p[j].y) {
        problems.push({ vertex: j, detail: `${pointName(j)} repeats ${pointName(i)}` });
        break;
      }
    }
  }
  if (problems.length) return problems;

  let allCollinear = true;
  for (let k = 2; k < n && allCollinear; k++) allCollinear = orientation(p[0], p[1], p[k]) === 0;
  if (allCollinear) {
    problems.push({ vertex: null, detail: 'all points lie on one line: the zone has zero area' });
    return problems;
  }

  // Adjacent edges share their common vertex and nothing else: collinear
  // edges that go on straight are fine, a spike that turns back is not.
  for (let i = 0; i < n; i++) {
    const a = p[(i + n - 1) % n];
    const b = p[i];
    const c = p[(i + 1) % n];
    const dot = (a.x - b.x) * (c.x - b.x) + (a.y - b.y) * (c.y - b.y);
    if (orientation(a, b, c) === 0 && dot > 0) {
      problems.push({
        vertex: i,
        detail: `${pointName(i)} turns back along the edge it came from (the edges overlap)`,
      });
    }
  }

  // Non-adjacent edges share no point at all.
  const touching = new Set(); // "vertex,edge", reported once
  const touch = (vertex, edge) => {
    const key = `${vertex},${edge}`;
    if (touching.has(key)) return;
    touching.add(key);
    problems.push({ vertex, detail: `${pointName(vertex)} lies on ${edgeName(edge, n)}` });
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // adjacent through the closing edge
      const i2 = (i + 1) % n;
      const j2 = (j + 1) % n;
      const a = p[i], b = p[i2], c = p[j], d = p[j2];
      const o1 = orientation(a, b, c), o2 = orientation(a, b, d);
      const o3 = orientation(c, d, a), o4 = orientation(c, d, b);
      if (o1 !== 0 && o2 !== 0 && o3 !== 0 && o4 !== 0) {
        if (o1 !== o2 && o3 !== o4) {
          problems.push({ vertex: i, detail: `${edgeName(i, n)} crosses ${edgeName(j, n)}` });
        }
        continue;
      }
      if (onSegment(a, b, c)) touch(j, i);
      if (onSegment(a, b, d)) touch(j2, i);
      if (onSegment(c, d, a)) touch(i, j);
      if (onSegment(c, d, b)) touch(i2, j);
    }
  }
  return problems;
}

// Where a pointer such as "/zones/2/points/3/0" points in the drawing:
// {zone, vertex} (either null when the pointer is not that deep).
export function locatePointer(pointer) {
  const m = /^\/zones\/(\d+)(?:\/points\/(\d+))?/.exec(pointer);
  if (!m) return { zone: null, vertex: null };
  return { zone: Number(m[1]), vertex: m[2] === undefined ? null : Number(m[2]) };
}

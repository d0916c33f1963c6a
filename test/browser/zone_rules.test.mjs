// The console's zone rules (console/js/zones/rules.js) against SPEC §6:
// legal shapes pass, every illegal one is reported with the server's JSON
// pointer and sentence. Plain node, no browser:
//   node test/browser/zone_rules.test.mjs
// With RS1_API_BASE, RS1_API_TOKEN (an admin's bearer token) and RS1_DEVICE
// set, every illegal config is also PUT to that device's zones, and the
// server's 422 `errors` must equal rules.js's output exactly: this is what
// proves the editor shows the messages the server gives.
import assert from 'node:assert/strict';
import { validateZoneConfig, simplePolygonProblems, locatePointer } from '../../console/js/zones/rules.js';

const results = { passed: 0, failed: 0 };
async function test(name, fn) {
  try {
    await fn();
    results.passed++;
  } catch (err) {
    results.failed++;
    console.error(`FAIL ${name}\n  ${String(err.message).split('\n').join('\n  ')}`);
  }
}

const zone = (over = {}) => ({
  id: 1,
  name: 'Sofa',
  type: 'detect',
  points: [[-1000, 500], [1000, 500], [0, 2000]],
  ...over,
});

// --- legal ------------------------------------------------------------------

const legal = {
  'no zones': '{"zones":[]}',
  'sensitivity 1': '{"zones":[],"sensitivity":1}',
  'sensitivity 10': '{"zones":[],"sensitivity":10}',
  'a triangle': '{"zones":[{"id":1,"name":"Sofa","type":"detect","points":[[0,0],[100,0],[0,100]]}],"sensitivity":5}',
  'an exclusion zone inside a detect zone':
    '{"zones":[{"id":1,"name":"Room","type":"detect","points":[[-6000,0],[6000,0],[6000,6000],[-6000,6000]]},' +
    '{"id":255,"name":"Fan","type":"exclude","points":[[-100,1000],[100,1000],[100,1200],[-100,1200]]}]}',
  '32 characters, counted as characters':
    '{"zones":[{"id":2,"name":"ääääääääääääääääääääääääääääääää","type":"exclude","points":[[0,0],[10,0],[0,10]]}]}',
  'an astral name of 32 characters':
    `{"zones":[{"id":2,"name":"${'🛋'.repeat(32)}","type":"exclude","points":[[0,0],[10,0],[0,10]]}]}`,
  'a concave polygon (an L)':
    '{"zones":[{"id":3,"name":"L","type":"detect","points":[[0,0],[2000,0],[2000,1000],[1000,1000],[1000,3000],[0,3000]]}]}',
  'clockwise winding': '{"zones":[{"id":3,"name":"Cw","type":"detect","points":[[0,0],[0,10],[10,10],[10,0]]}]}',
  'a vertex in the straight middle of an edge':
    '{"zones":[{"id":3,"name":"Mid","type":"detect","points":[[0,0],[5,0],[10,0],[10,10],[0,10]]}]}',
  'the whole field of view':
    '{"zones":[{"id":3,"name":"All","type":"detect","points":[[-6000,0],[6000,0],[6000,6000],[-6000,6000]]}]}',
};
// 16 points on a convex curve, and 16 zones.
legal['16 points'] = JSON.stringify({
  zones: [zone({ points: Array.from({ length: 16 }, (_, i) => [i * 10, i * i]) })],
});
legal['16 zones'] = JSON.stringify({ zones: Array.from({ length: 16 }, (_, i) => zone({ id: i + 1 })) });

for (const [name, text] of Object.entries(legal)) {
  await test(`legal: ${name}`, () => assert.deepEqual(validateZoneConfig(JSON.parse(text)), []));
}

// --- illegal: one error each ------------------------------------------------

const P3 = '"points":[[0,0],[9,0],[0,9]]';
const one = [
  ['[]', '', 'a zone config must be a JSON object {"zones":[…],"sensitivity":N}'],
  ['"zones"', '', 'a zone config must be a JSON object {"zones":[…],"sensitivity":N}'],
  ['{}', '/zones', 'zones is required (an array of 0 to 16 zones)'],
  ['{"zones":{}}', '/zones', 'zones must be an array of 0 to 16 zones'],
  ['{"zones":null}', '/zones', 'zones must be an array of 0 to 16 zones'],
  ['{"zones":[],"colour":"red"}', '/colour', 'unknown key (a zone config has zones and sensitivity)'],
  ['{"zones":[],"a/b~c":1}', '/a~1b~0c', 'unknown key (a zone config has zones and sensitivity)'],
  ['{"zones":[],"sensitivity":0}', '/sensitivity', 'sensitivity must be an integer within 1..10'],
  ['{"zones":[],"sensitivity":11}', '/sensitivity', 'sensitivity must be an integer within 1..10'],
  ['{"zones":[],"sensitivity":5.5}', '/sensitivity', 'sensitivity must be an integer within 1..10'],
  ['{"zones":[],"sensitivity":"5"}', '/sensitivity', 'sensitivity must be an integer within 1..10'],
  ['{"zones":[],"sensitivity":null}', '/sensitivity', 'sensitivity must be an integer within 1..10'],
  ['{"zones":[7]}', '/zones/0', 'a zone must be a JSON object {"id","name","type","points"}'],
  ['{"zones":[[]]}', '/zones/0', 'a zone must be a JSON object {"id","name","type","points"}'],
  [`{"zones":[{"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id is required (an integer within 1..255)'],
  [`{"zones":[{"id":0,"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":256,"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":1.5,"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":"1","name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":true,"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":18446744073709551615,"name":"A","type":"detect",${P3}}]}`, '/zones/0/id', 'id must be an integer within 1..255'],
  [`{"zones":[{"id":1,"type":"detect",${P3}}]}`, '/zones/0/name', 'name is required (1 to 32 characters)'],
  [`{"zones":[{"id":1,"name":"","type":"detect",${P3}}]}`, '/zones/0/name', 'name must be 1 to 32 characters (it has 0)'],
  [`{"zones":[{"id":1,"name":"123456789012345678901234567890123","type":"detect",${P3}}]}`, '/zones/0/name', 'name must be 1 to 32 characters (it has 33)'],
  [`{"zones":[{"id":1,"name":"${'🛋'.repeat(33)}","type":"detect",${P3}}]}`, '/zones/0/name', 'name must be 1 to 32 characters (it has 33)'],
  [`{"zones":[{"id":1,"name":3,"type":"detect",${P3}}]}`, '/zones/0/name', 'name must be a string of 1 to 32 characters'],
  [`{"zones":[{"id":1,"name":"A",${P3}}]}`, '/zones/0/type', 'type is required ("detect" or "exclude")'],
  [`{"zones":[{"id":1,"name":"A","type":"Detect",${P3}}]}`, '/zones/0/type', 'type must be "detect" or "exclude"'],
  [`{"zones":[{"id":1,"name":"A","type":1,${P3}}]}`, '/zones/0/type', 'type must be "detect" or "exclude"'],
  ['{"zones":[{"id":1,"name":"A","type":"detect"}]}', '/zones/0/points', 'points is required (3 to 16 [x,y] vertices)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":{}}]}', '/zones/0/points', 'points must be an array of 3 to 16 [x,y] vertices'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0]]}]}', '/zones/0/points', 'a zone needs 3 to 16 points (it has 2)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0]]}]}', '/zones/0/points/2', 'a point must be an array [x, y] of two integers (millimetres)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9,9]]}]}', '/zones/0/points/2', 'a point must be an array [x, y] of two integers (millimetres)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],{"x":0,"y":9}]}]}', '/zones/0/points/2', 'a point must be an array [x, y] of two integers (millimetres)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0.5,9]]}]}', '/zones/0/points/2/0', 'x must be an integer (millimetres)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,"9"]]}]}', '/zones/0/points/2/1', 'y must be an integer (millimetres)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[-6001,9]]}]}', '/zones/0/points/2/0', 'x must be within -6000..6000'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[6001,0],[0,9]]}]}', '/zones/0/points/1/0', 'x must be within -6000..6000'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,-1],[9,0],[0,9]]}]}', '/zones/0/points/0/1', 'y must be within 0..6000'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,6001]]}]}', '/zones/0/points/2/1', 'y must be within 0..6000'],
  [`{"zones":[{"id":1,"name":"A","type":"detect",${P3},"colour":1}]}`, '/zones/0/colour', 'unknown key (a zone has id, name, type and points)'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,9],[9,0],[0,9]]}]}', '/zones/0/points/0', 'the edge from point 0 to point 1 crosses the edge from point 2 to point 3'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[10,0],[10,0],[0,10]]}]}', '/zones/0/points/2', 'point 2 repeats point 1'],
  ['{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[3,3],[6,6]]}]}', '/zones/0/points', 'all points lie on one line: the zone has zero area'],
];
const illegal = one.map(([text, pointer, detail]) => ({ text, expected: [{ pointer, detail }] }));

// --- illegal: several errors, or errors whose order matters -----------------

const many = (text, expected) => illegal.push({ text, expected });

many(
  JSON.stringify({ zones: Array.from({ length: 17 }, (_, i) => zone({ id: i + 1 })) }),
  [{ pointer: '/zones', detail: 'at most 16 zones are allowed (there are 17)' }],
);
many(
  JSON.stringify({ zones: [zone({ points: Array.from({ length: 17 }, (_, i) => [i * 10, i * i]) })] }),
  [{ pointer: '/zones/0/points', detail: 'a zone needs 3 to 16 points (it has 17)' }],
);
many(
  JSON.stringify({ zones: [zone(), zone({ id: 2 }), zone({ id: 1 })] }),
  [{ pointer: '/zones/2/id', detail: 'id 1 is already used by /zones/0' }],
);
// Every error at once, in document order; unknown keys first, in the
// server's (sorted) key order, whatever order the document has them in.
many(
  '{"zones":[' +
    '{"id":1,"name":"Sofa","type":"detect","points":[[0,0],[100,0],[0,100]]},' +
    '{"id":1,"name":"","type":"both","points":[[0,0],[100,0],[0,100]]},' +
    '{"id":3,"name":"Desk","type":"exclude","points":[[0,0],[100,0],[0,100],[7000,-5]],"zz":1,"colour":2}],' +
    '"sensitivity":0,"extra":true,"another":1}',
  [
    { pointer: '/another', detail: 'unknown key (a zone config has zones and sensitivity)' },
    { pointer: '/extra', detail: 'unknown key (a zone config has zones and sensitivity)' },
    { pointer: '/zones/1/id', detail: 'id 1 is already used by /zones/0' },
    { pointer: '/zones/1/name', detail: 'name must be 1 to 32 characters (it has 0)' },
    { pointer: '/zones/1/type', detail: 'type must be "detect" or "exclude"' },
    { pointer: '/zones/2/colour', detail: 'unknown key (a zone has id, name, type and points)' },
    { pointer: '/zones/2/zz', detail: 'unknown key (a zone has id, name, type and points)' },
    { pointer: '/zones/2/points/3/0', detail: 'x must be within -6000..6000' },
    { pointer: '/zones/2/points/3/1', detail: 'y must be within 0..6000' },
    { pointer: '/sensitivity', detail: 'sensitivity must be an integer within 1..10' },
  ],
);
// A bad vertex stops the shape from being judged at all.
many('{"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,9],[9,0],[0,9],[0,"x"]]}]}', [
  { pointer: '/zones/0/points/4/1', detail: 'y must be an integer (millimetres)' },
]);
// A duplicate id and a vertex on a non-adjacent edge, in the second zone.
many(
  JSON.stringify({ zones: [zone(), zone({ points: [[0, 0], [10, 0], [10, 10], [5, 0], [0, 10]] })] }),
  [
    { pointer: '/zones/1/id', detail: 'id 1 is already used by /zones/0' },
    { pointer: '/zones/1/points/3', detail: 'point 3 lies on the edge from point 0 to point 1' },
  ],
);
// A pentagram: every pair of non-adjacent edges crosses.
many(JSON.stringify({ zones: [zone({ points: [[0, 0], [500, 1000], [1000, 0], [0, 600], [1000, 600]] })] }), [
  { pointer: '/zones/0/points/0', detail: 'the edge from point 0 to point 1 crosses the edge from point 2 to point 3' },
  { pointer: '/zones/0/points/0', detail: 'the edge from point 0 to point 1 crosses the edge from point 3 to point 4' },
  { pointer: '/zones/0/points/1', detail: 'the edge from point 1 to point 2 crosses the edge from point 3 to point 4' },
  { pointer: '/zones/0/points/1', detail: 'the edge from point 1 to point 2 crosses the edge from point 4 to point 0' },
  { pointer: '/zones/0/points/2', detail: 'the edge from point 2 to point 3 crosses the edge from point 4 to point 0' },
]);
// A spike turning back on itself.
many(JSON.stringify({ zones: [zone({ points: [[0, 0], [10, 0], [10, 10], [10, 5], [0, 10]] })] }), [
  { pointer: '/zones/0/points/2', detail: 'point 2 turns back along the edge it came from (the edges overlap)' },
  { pointer: '/zones/0/points/3', detail: 'point 3 lies on the edge from point 1 to point 2' },
]);
// Two non-adjacent edges overlapping.
many(JSON.stringify({ zones: [zone({ points: [[0, 0], [10, 0], [10, 5], [6, 5], [6, 0], [3, 0], [3, 8], [0, 8]] })] }), [
  { pointer: '/zones/0/points/4', detail: 'point 4 lies on the edge from point 0 to point 1' },
  { pointer: '/zones/0/points/5', detail: 'point 5 lies on the edge from point 0 to point 1' },
]);
// A pinch: a vertex repeated further on.
many(JSON.stringify({ zones: [zone({ points: [[0, 0], [10, 0], [5, 5], [10, 10], [0, 10], [5, 5]] })] }), [
  { pointer: '/zones/0/points/5', detail: 'point 5 repeats point 2' },
]);
many(JSON.stringify({ zones: [zone({ points: [[0, 0], [10, 0], [0, 10], [0, 0]] })] }), [
  { pointer: '/zones/0/points/3', detail: 'point 3 repeats point 0' },
]);

for (const { text, expected } of illegal) {
  await test(`illegal: ${text.slice(0, 90)}`, () => assert.deepEqual(validateZoneConfig(JSON.parse(text)), expected));
}

// --- the helpers the editor uses --------------------------------------------

await test('simplePolygonProblems on fewer than 3 points', () =>
  assert.deepEqual(simplePolygonProblems([{ x: 0, y: 0 }, { x: 1, y: 1 }]), [
    { vertex: null, detail: 'a polygon needs at least 3 points' },
  ]));
await test('locatePointer', () => {
  assert.deepEqual(locatePointer('/zones/2/points/3/0'), { zone: 2, vertex: 3 });
  assert.deepEqual(locatePointer('/zones/12/name'), { zone: 12, vertex: null });
  assert.deepEqual(locatePointer('/zones'), { zone: null, vertex: null });
  assert.deepEqual(locatePointer('/sensitivity'), { zone: null, vertex: null });
});

// --- the same answers as the server -----------------------------------------

const base = process.env.RS1_API_BASE;
const token = process.env.RS1_API_TOKEN;
const device = process.env.RS1_DEVICE;
if (base && token) {
  assert.ok(device, 'RS1_DEVICE names the device whose zones the live check PUTs to');
  const zonesUrl = `${base.replace(/\/$/, '')}/api/v1/devices/${encodeURIComponent(device)}/zones`;
  const auth = { Authorization: `Bearer ${token}` };

  // The API limits requests per minute: wait as told and try again.
  async function send(url, init) {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, init);
      if (res.status !== 429 || attempt >= 3) return res;
      const wait = Number(res.headers.get('Retry-After') || '5');
      await new Promise((resolve) => setTimeout(resolve, (wait + 1) * 1000));
    }
  }

  const current = await send(zonesUrl, { headers: auth });
  assert.equal(current.status, 200, `GET ${zonesUrl}`);
  const etag = current.headers.get('ETag');
  for (const { text } of illegal) {
    await test(`server agrees: ${text.slice(0, 90)}`, async () => {
      const res = await send(zonesUrl, {
        method: 'PUT',
        headers: { ...auth, 'If-Match': etag, 'Content-Type': 'application/json' },
        body: text,
      });
      const problem = await res.json();
      assert.equal(res.status, 422, JSON.stringify(problem));
      assert.deepEqual(problem.errors, validateZoneConfig(JSON.parse(text)));
    });
  }
  // And a legal config is stored: the server does not refuse what the
  // editor lets through.
  await test('server stores a config the rules accept', async () => {
    const res = await send(zonesUrl, {
      method: 'PUT',
      headers: { ...auth, 'If-Match': etag, 'Content-Type': 'application/json' },
      body: legal['an exclusion zone inside a detect zone'],
    });
    assert.equal(res.status, 200, await res.text());
  });
} else {
  console.log('RS1_API_BASE / RS1_API_TOKEN not set: the comparison with the server is skipped');
}

console.log(`${results.passed} passed, ${results.failed} failed`);
process.exitCode = results.failed ? 1 : 0;

// The console's third-party code is exactly the pinned npm package (the
// lockfile's integrity), and no console file names another host: every
// request the console makes goes to the broker that served it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test, run, assert } from './harness.mjs';

const consoleDir = new URL('../../console/', import.meta.url).pathname;
const modules = new URL('./node_modules/', import.meta.url).pathname;

test('vendored uPlot is byte for byte the package package-lock.json pins', () => {
  const lock = JSON.parse(readFileSync(new URL('./package-lock.json', import.meta.url)));
  const pinned = lock.packages['node_modules/uplot'];
  assert.equal(pinned.version, '1.6.32');
  const installed = JSON.parse(readFileSync(join(modules, 'uplot/package.json')));
  assert.equal(installed.version, pinned.version, 'npm ci installed the pinned version');
  for (const file of ['uPlot.esm.js', 'uPlot.min.css']) {
    assert.ok(readFileSync(join(consoleDir, 'vendor/uplot', file))
      .equals(readFileSync(join(modules, 'uplot/dist', file))), `${file} differs from the package`);
  }
  assert.ok(readFileSync(join(consoleDir, 'vendor/uplot/LICENSE.txt'))
    .equals(readFileSync(join(modules, 'uplot/LICENSE'))), 'the licence is the package\'s');
  assert.match(readFileSync(join(consoleDir, 'vendor/uplot/SOURCE.txt'), 'utf8'), new RegExp(
    pinned.integrity.replace(/[+/=]/g, (c) => `\\${c}`)), 'SOURCE.txt names the pinned integrity');
});

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

test('no console file loads anything from another host, and none has inline script', () => {
  const offenders = [];
  for (const path of files(consoleDir)) {
    const name = relative(consoleDir, path);
    if (name.startsWith('vendor/')) continue;  // checked above, byte for byte
    const text = readFileSync(path, 'utf8');
    // An absolute URL in markup or code (an SVG namespace is not a request).
    for (const m of text.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'"`)]*/gi)) {
      if (m[0].startsWith('http://www.w3.org/')) continue;
      offenders.push(`${name}: ${m[0]}`);
    }
    if (name.endsWith('.html')) {
      for (const m of text.matchAll(/<script\b[^>]*>/gi)) {
        if (!/\bsrc=/.test(m[0])) offenders.push(`${name}: inline ${m[0]}`);
      }
      if (/\son[a-z]+=/i.test(text)) offenders.push(`${name}: an inline event handler`);
      if (/\sstyle=/i.test(text)) offenders.push(`${name}: an inline style attribute`);
    }
  }
  assert.deepEqual(offenders, []);
});

await run();

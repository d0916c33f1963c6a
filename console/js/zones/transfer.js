// Zone configs in and out as JSON files: export downloads the config being
// edited; import reads a file or pasted text and hands it on only when the
// §6 rules accept it, so a broken file never replaces the drawing.

import { h, replace } from '../ui.js';
import { validateZoneConfig } from './rules.js';

export function exportConfig(config, deviceId) {
  const blob = new Blob([JSON.stringify(config, null, 2) + '\n'], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: `zones-${deviceId}.json`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference once started.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

// {config} when `text` is a valid zone config, else {problem, errors}.
export function parseImport(text) {
  let config;
  try {
    config = JSON.parse(text);
  } catch (err) {
    return { problem: `This is not JSON: ${err.message}`, errors: [] };
  }
  const errors = validateZoneConfig(config);
  if (errors.length) return { problem: 'This zone config breaks the rules; nothing was imported.', errors };
  return { config };
}

// The import controls: a file input and a paste box. `accept(config)` is
// called with a valid config.
export function createImportPanel(accept) {
  const report = h('div', { class: 'zone-import-report', 'aria-live': 'polite' });
  const fileInput = h('input', {
    type: 'file',
    accept: 'application/json,.json',
    'data-testid': 'zone-import',
    onchange: async () => {
      const file = fileInput.files[0];
      if (!file) return;
      take(await file.text(), file.name);
      fileInput.value = '';
    },
  });
  const paste = h('textarea', { rows: 5, spellcheck: 'false', 'data-testid': 'zone-import-text', id: 'zone-import-text' });
  const pasteButton = h(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'zone-import-apply', onclick: () => take(paste.value, 'the pasted text') },
    'Import pasted JSON',
  );

  function take(text, source) {
    const result = parseImport(text);
    if (result.config) {
      replace(report, h('p', { class: 'message success' }, `Imported ${source}. Save to send it to the device.`));
      paste.value = '';
      accept(result.config);
      return;
    }
    replace(
      report,
      h(
        'div',
        { class: 'message error', role: 'alert', 'data-testid': 'zone-import-error' },
        h('strong', null, `${source}: `),
        result.problem,
        result.errors.length
          ? h('ul', null, result.errors.map((e) => h('li', null, h('code', null, e.pointer || '(the document)'), ': ', e.detail)))
          : null,
      ),
    );
  }

  return h(
    'details',
    { class: 'zone-import' },
    h('summary', null, 'Import JSON'),
    h('label', { class: 'zone-import-file' }, 'From a file ', fileInput),
    h('label', { for: 'zone-import-text' }, 'Or paste a zone config'),
    paste,
    pasteButton,
    report,
  );
}

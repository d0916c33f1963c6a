// Firmware images: the list, and for admins an upload (the image as
// application/octet-stream, streamed to disk by the broker) with progress.

import { api, upload, session } from '../api.js';
import { h, replace, problemMessage, pageHeader, field, formatBytes, formatTime, toast } from '../ui.js';

function firmwareTable(images) {
  if (!images.length) return h('p', { class: 'muted' }, 'No firmware has been uploaded yet.');
  const sorted = [...images].sort((a, b) => b.created_at - a.created_at);
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'data-table', 'data-testid': 'firmware-table' },
      h('caption', { class: 'visually-hidden' }, 'Firmware images'),
      h('thead', null, h('tr', null, ['Version', 'Size', 'SHA-256', 'Uploaded', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        null,
        sorted.map((f) =>
          h(
            'tr',
            { 'data-testid': 'firmware-row', dataset: { version: f.version } },
            h('td', null, h('strong', null, f.version)),
            h('td', { title: `${f.size} bytes` }, formatBytes(f.size)),
            h('td', null, h('code', { class: 'hash', title: f.sha256 }, f.sha256)),
            h('td', null, formatTime(f.created_at)),
            h('td', null, h('a', { href: `#/devices?firmware=${encodeURIComponent(f.version)}` }, 'Devices')),
          ),
        ),
      ),
    ),
  );
}

function uploadForm(onDone) {
  const file = h('input', { type: 'file', name: 'image', required: true, 'data-testid': 'firmware-file' });
  const version = h('input', { name: 'version', required: true, maxlength: '64', placeholder: 'e.g. 1.4.0', autocomplete: 'off', 'data-testid': 'firmware-version' });
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'firmware-progress', 'aria-label': 'Upload progress' });
  const progressText = h('span', { class: 'muted', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', 'data-testid': 'firmware-upload' }, 'Upload');
  const errorBox = h('div');

  // Suggest the version from names like rs1-1.4.0.bin.
  file.addEventListener('change', () => {
    const m = file.files[0] && file.files[0].name.match(/(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)\.\w+$/);
    if (m && !version.value) version.value = m[1];
  });

  async function onSubmit(e) {
    e.preventDefault();
    replace(errorBox);
    const image = file.files[0];
    const v = version.value.trim();
    if (!image || !v) return;
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    try {
      const { data } = await upload(`/api/v1/firmware?version=${encodeURIComponent(v)}`, image, (fraction) => {
        progress.value = fraction;
        progressText.textContent = `${Math.round(fraction * 100)}% of ${formatBytes(image.size)}`;
      });
      toast(`Firmware ${data.version} uploaded (${formatBytes(data.size)}).`, 'success');
      file.value = '';
      version.value = '';
      progressText.textContent = '';
      progress.hidden = true;
      onDone();
    } catch (err) {
      replace(errorBox, problemMessage(err));
      progressText.textContent = '';
      progress.hidden = true;
    } finally {
      submit.disabled = false;
    }
  }

  return h(
    'form',
    { class: 'upload-form', onsubmit: onSubmit, 'data-testid': 'firmware-form' },
    h('div', { class: 'form-row' }, field('Image file', file), field('Version', version)),
    errorBox,
    h('div', { class: 'form-row' }, submit, progress, progressText),
  );
}

export async function render(container) {
  const listBox = h('div');
  container.append(pageHeader('Firmware'));
  async function load() {
    try {
      const { data } = await api('GET', '/api/v1/firmware');
      replace(listBox, firmwareTable(data));
    } catch (err) {
      replace(listBox, problemMessage(err));
    }
  }
  if (session.isAdmin()) {
    container.append(h('section', { class: 'panel', 'aria-labelledby': 'fw-up' }, h('h2', { id: 'fw-up' }, 'Upload an image'), uploadForm(load)));
  }
  container.append(h('section', { class: 'panel', 'aria-labelledby': 'fw-list' }, h('h2', { id: 'fw-list' }, 'Images'), listBox));
  await load();
}

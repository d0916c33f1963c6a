// Shared DOM helpers of the console: element building, messages, times.

// h('a', { href: '#/x', class: 'link', onclick: fn, dataset: { id: 1 } }, 'text', child)
// Children may be strings, numbers, nodes, arrays of them, or null/false
// (skipped), so callers can write conditions inline.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  const props = [];
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    // Properties, set after the children so a <select> already has its options.
    else if (key === 'value' || key === 'checked' || key === 'selected') props.push([key, value]);
    else if (key === 'style') throw new Error('h(): inline style attributes are blocked by the CSP; use a class');
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  for (const [key, value] of props) el[key] = value;
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Replace everything inside `el` with `children`.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// An ApiProblem or any Error as a role="alert" message: title, detail, and
// the field errors of an invalid body (pointer: detail).
export function problemMessage(err) {
  const title = err && err.title ? err.title : 'Something went wrong';
  const detail = err && err.title ? err.detail : err && err.message;
  const errors = (err && Array.isArray(err.errors) ? err.errors : []).map((e) =>
    h('li', null, e.pointer ? h('code', null, e.pointer) : null, e.pointer ? ': ' : null, e.detail),
  );
  return h(
    'div',
    { class: 'message error', role: 'alert' },
    h('strong', null, title),
    detail ? h('span', null, ' ', detail) : null,
    errors.length ? h('ul', null, errors) : null,
  );
}

export function showProblem(container, err) {
  const msg = problemMessage(err);
  replace(container, msg);
  return msg;
}

let toastRegion = null;

// A short-lived status message in one polite live region for the whole page.
export function toast(text, kind = 'info') {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const item = h('div', { class: `toast ${kind}` }, text);
  toastRegion.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const STEPS = [
  [60, 'second'],
  [60, 'minute'],
  [24, 'hour'],
  [30, 'day'],
  [12, 'month'],
  [Infinity, 'year'],
];

// "3 minutes ago" for an ISO string or a time in ms (a number below 1e11 is
// taken as unix seconds, which is how the API gives most times).
export function relativeTime(isoOrMs) {
  const ms = toMs(isoOrMs);
  if (ms === null) return 'never';
  let value = (ms - Date.now()) / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
    value /= size;
  }
  return '';
}

export function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') return t < 1e11 ? t * 1000 : t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

// A full local date and time, for tooltips and tables.
export function formatTime(t) {
  const ms = toMs(t);
  return ms === null ? '—' : new Date(ms).toLocaleString();
}

// A <time> element showing the relative time with the full one on hover.
export function timeEl(t) {
  const ms = toMs(t);
  if (ms === null) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: new Date(ms).toISOString(), title: formatTime(ms) }, relativeTime(ms));
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// Calls fn once, `ms` after the first call of a burst, however many calls
// the burst has: unlike a debounce, a steady stream of calls (a fleet
// reconnecting, a busy rollout) cannot postpone it for ever.
export function coalesce(fn, ms) {
  let timer = null;
  const wrapped = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  wrapped.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return wrapped;
}

// Ask before something that cannot be undone easily; resolves true or false.
// A modal <dialog> rather than window.confirm, so it is styled, focus-trapped
// and can be driven by tests like any other element.
export function confirmDialog(question, confirmLabel = 'Confirm') {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-label': 'Confirm' },
      h(
        'form',
        { method: 'dialog' },
        h('p', null, question),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', class: 'secondary', 'data-testid': 'confirm-cancel' }, 'Cancel'),
          h('button', { value: 'ok', class: 'danger', 'data-testid': 'confirm-ok' }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A labelled form field: <label>text <input ...></label> style, but with the
// label and control side by side in a wrapper so layouts can use grid.
export function field(labelText, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, labelText),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
  );
}

// A page header: title plus optional actions on the right.
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' }, h('h1', null, title), h('div', { class: 'actions' }, actions));
}

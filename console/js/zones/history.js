// The kept versions of a device's zone config (newest first), each with a
// small preview, its status and the device's error, and a rollback that
// stores that version's config again as a new version. The history answer
// carries no configs; a preview is drawn from the entry's `config` when the
// server sends one, else from the configs this page has seen (loaded or
// saved), else the entry says there is none to show.

import { h, replace, showProblem, timeEl, confirmDialog } from '../ui.js';
import { loadHistory } from './sync.js';
import { zonePreview } from './drawing.js';

// `options`: {deviceId, knownConfig(version) -> config|undefined,
// canRollback(), rollback(version) -> Promise}. Returns {element, refresh()}.
export function createHistoryPanel({ deviceId, knownConfig, canRollback, rollback }) {
  const list = h('ol', { class: 'zone-history-list', 'data-testid': 'zone-history' });
  const message = h('div', { class: 'zone-history-message' });
  const refreshButton = h('button', { type: 'button', class: 'secondary', onclick: () => refresh() }, 'Refresh');
  const element = h(
    'section',
    { class: 'zone-history', 'aria-labelledby': 'zone-history-title' },
    h('div', { class: 'zone-section-head' }, h('h2', { id: 'zone-history-title' }, 'History'), refreshButton),
    message,
    list,
  );

  let loading = null;
  async function refresh() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const versions = await loadHistory(deviceId);
        message.replaceChildren();
        replace(list, versions.length ? versions.map(entryView) : h('li', { class: 'muted' }, 'No version yet.'));
      } catch (err) {
        showProblem(message, err);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  function entryView(entry) {
    const config = entry.config || knownConfig(entry.version);
    const label = `version ${entry.version}`;
    const preview = config
      ? zonePreview(config, `the zones of ${label}`)
      : h('div', { class: 'zone-preview none' }, 'no preview');
    const status = h('span', { class: `zone-version-status status-${entry.status}` }, entry.status);
    const button = h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': 'zone-rollback',
        dataset: { version: entry.version },
        disabled: !canRollback(),
        'aria-label': `Roll back to ${label}`,
        onclick: () => confirmRollback(entry.version, button),
      },
      'Roll back',
    );
    return h(
      'li',
      { class: 'zone-history-entry', dataset: { version: entry.version } },
      preview,
      h(
        'div',
        { class: 'zone-history-text' },
        h('strong', null, `v${entry.version}`),
        ' ',
        status,
        ' ',
        timeEl(entry.created_at),
        entry.rollback_of ? h('div', { class: 'muted' }, `rollback of v${entry.rollback_of}`) : null,
        entry.error ? h('div', { class: 'zone-device-error' }, `device: ${entry.error}`) : null,
      ),
      button,
    );
  }

  async function confirmRollback(version, button) {
    const ok = await confirmDialog(
      `Store version ${version}'s zones again as a new version and send them to the device? ` +
        'Unsaved changes in the editor are discarded.',
      'Roll back',
    );
    if (!ok) return;
    button.disabled = true;
    try {
      await rollback(version);
      message.replaceChildren();
    } catch (err) {
      showProblem(message, err);
    } finally {
      button.disabled = !canRollback();
    }
  }

  return { element, refresh };
}

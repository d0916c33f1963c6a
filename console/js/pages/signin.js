// Sign-in: POST /api/v1/session sets the rs1_session cookie; the answer's
// role decides which controls the console shows.

import { api, session, ApiProblem } from '../api.js';
import { h, replace, problemMessage, field } from '../ui.js';

export function render(container) {
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    required: true,
    autocapitalize: 'none',
    spellcheck: 'false',
    'data-testid': 'signin-username',
  });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'signin-password',
  });
  const submit = h('button', { type: 'submit', 'data-testid': 'signin-submit' }, 'Sign in');
  const errorBox = h('div', { class: 'form-errors', 'data-testid': 'signin-error' });

  async function onSubmit(e) {
    e.preventDefault();
    replace(errorBox);
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const { data } = await api('POST', '/api/v1/session', {
        body: { username: username.value.trim(), password: password.value },
      });
      session.remember(username.value.trim(), data.role);
      location.hash = '#/overview';
    } catch (err) {
      // 401 wrong login, 429 banned after too many: the problem says which.
      replace(errorBox, problemMessage(err));
      if (err instanceof ApiProblem && err.status === 429) {
        const after = err.response && err.response.headers.get('Retry-After');
        if (after) errorBox.append(h('p', { class: 'hint' }, `Try again in ${after} s.`));
      }
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  }

  container.append(
    h(
      'section',
      { class: 'signin-card', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title' }, 'RS-1 Console'),
      h('p', { class: 'muted' }, 'Sign in with an operator account (', h('code', null, 'rs1ctl account add'), ').'),
      h(
        'form',
        { class: 'stack', onsubmit: onSubmit },
        field('Username', username),
        field('Password', password),
        errorBox,
        submit,
      ),
    ),
  );
  username.focus();
}

// The console shell: hash router, navigation, session check and sign-out.
// Pages are loaded on first use (dynamic import, relative to this module, so
// they resolve under the same content-hashed base) and each exports
// render(container, params) -> { destroy() } | undefined (or a Promise of it).

import { api, session } from './api.js';
import * as events from './events.js';
import { h, replace, problemMessage } from './ui.js';

const ROUTES = [
  { pattern: /^\/signin$/, nav: null, title: 'Sign in', load: () => import('./pages/signin.js') },
  { pattern: /^\/overview$/, nav: 'overview', title: 'Overview', load: () => import('./pages/overview.js') },
  { pattern: /^\/devices$/, nav: 'devices', title: 'Devices', load: () => import('./pages/devices.js') },
  {
    pattern: /^\/devices\/([A-Za-z0-9_-]{1,64})\/zones$/,
    nav: 'devices',
    title: 'Zones',
    load: async () => {
      const { renderZoneEditor } = await import('./zones/editor.js');
      return { render: (container, params) => renderZoneEditor(container, params.id) };
    },
    params: (m) => ({ id: m[1] }),
  },
  {
    pattern: /^\/devices\/([A-Za-z0-9_-]{1,64})$/,
    nav: 'devices',
    title: 'Device',
    load: () => import('./pages/device.js'),
    params: (m) => ({ id: m[1] }),
  },
  { pattern: /^\/firmware$/, nav: 'firmware', title: 'Firmware', load: () => import('./pages/firmware.js') },
  { pattern: /^\/rollouts$/, nav: 'rollouts', title: 'Rollouts', load: () => import('./pages/rollouts.js') },
  {
    pattern: /^\/rollouts\/(\d+)$/,
    nav: 'rollouts',
    title: 'Rollout',
    load: () => import('./pages/rollout.js'),
    params: (m) => ({ rid: Number(m[1]) }),
  },
  { pattern: /^\/security$/, nav: 'security', title: 'Security log', load: () => import('./pages/security.js') },
];

const DEFAULT_HASH = '#/overview';

const signinView = document.getElementById('signin-view');
const signinMain = document.getElementById('signin-main');
const appView = document.getElementById('app-view');
const main = document.getElementById('main');
const nav = document.getElementById('main-nav');
const navToggle = document.getElementById('nav-toggle');
const sessionWho = document.getElementById('session-who');
const signoutButton = document.getElementById('signout');
const liveIndicator = document.getElementById('live-indicator');

let current = null; // the shown page's { destroy } or null
let navigation = 0; // bumps on every route, so a slow page load cannot show up late
let sessionChecked = false;

// "#/devices/abc?q=x" -> { path: '/devices/abc', query: URLSearchParams('q=x') }
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || DEFAULT_HASH.slice(1);
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

// Signed out, the app view is not merely hidden but out of the document, so
// that nothing of it (navigation, main) can be found, focused or waited for
// until a session has been checked.
function showSignin() {
  appView.remove();
  signinView.hidden = false;
}

function showApp() {
  signinView.hidden = true;
  appView.hidden = false;
  if (!appView.isConnected) signinView.after(appView);
}

function destroyCurrent() {
  if (current && typeof current.destroy === 'function') {
    try {
      current.destroy();
    } catch (err) {
      console.error('page destroy failed', err);
    }
  }
  current = null;
}

function showRole() {
  const role = session.role();
  document.body.classList.toggle('role-admin', role === 'admin');
  document.body.classList.toggle('role-service', role !== 'admin');
  sessionWho.textContent = role
    ? `${session.user() || 'signed in'} (${role})`
    : '';
}

function markNav(name) {
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function setNavOpen(open) {
  nav.classList.toggle('open', open);
  navToggle.setAttribute('aria-expanded', String(open));
}

// Is the cookie still good? GET /api/v1/session answers the session (and
// its role, which this tab may not know yet: the cookie is HttpOnly), or 204
// when there is none, which a browser does not log as a failed request.
// False sends the app to sign-in.
async function checkSession() {
  const { status, data } = await api('GET', '/api/v1/session');
  if (status !== 200 || !data) {
    session.forget();
    return false;
  }
  session.remember(data.username, data.role);
  sessionChecked = true;
  return true;
}

async function route() {
  const id = ++navigation;
  const { path, query } = parseHash();
  const entry = ROUTES.find((r) => r.pattern.test(path));
  if (!entry) {
    location.hash = DEFAULT_HASH;
    return;
  }
  destroyCurrent();
  setNavOpen(false);

  if (entry.nav === null) {
    // The sign-in page: whatever session there was is over.
    sessionChecked = false;
    session.forget();
    events.close();
    showSignin();
    replace(main);
  } else {
    // A new tab, or a reload: the cookie may still be good.
    if (!sessionChecked) {
      let signedIn;
      try {
        signedIn = await checkSession();
      } catch (err) {
        if (id !== navigation) return;
        showApp();
        replace(main, problemMessage(err));
        return;
      }
      if (id !== navigation) return;
      if (!signedIn) {
        location.hash = '#/signin';
        return;
      }
    }
    showRole();
    markNav(entry.nav);
    showApp();
  }

  const container = entry.nav === null ? signinMain : main;
  replace(container, h('p', { class: 'loading' }, 'Loading…'));
  document.title = `${entry.title} · RS-1 Console`;
  try {
    const page = await entry.load();
    if (id !== navigation) return;
    replace(container);
    const params = { ...(entry.params ? entry.params(path.match(entry.pattern)) : {}), query };
    const result = await page.render(container, params);
    if (id !== navigation) {
      // The user moved on while the page was loading.
      if (result && typeof result.destroy === 'function') result.destroy();
      return;
    }
    current = result || null;
  } catch (err) {
    if (id !== navigation) return;
    console.error(err);
    replace(container, problemMessage(err));
  }
}

async function signOut() {
  try {
    await api('DELETE', '/api/v1/session');
  } catch (err) {
    // Already signed out (401) or the server is away: the local session
    // ends either way.
    console.warn('sign-out:', err.message);
  }
  location.hash = '#/signin';
}

function initLiveIndicator() {
  events.subscribe('connection', ({ open }) => {
    liveIndicator.dataset.live = String(open);
    liveIndicator.title = open ? 'Live updates on' : 'Live updates interrupted; reconnecting';
  });
}

function start() {
  appView.remove(); // until a session is checked (showApp)
  signoutButton.addEventListener('click', signOut);
  navToggle.addEventListener('click', () => setNavOpen(!nav.classList.contains('open')));
  nav.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && nav.classList.contains('open')) {
      setNavOpen(false);
      navToggle.focus();
    }
  });
  initLiveIndicator();
  window.addEventListener('hashchange', route);
  // No hashchange for this one: route() below shows it.
  if (!location.hash) history.replaceState(null, '', DEFAULT_HASH);
  route();
}

start();

// One EventSource on /api/v1/events shared by every page: each stream holds
// a listener thread on the broker (at most 64 streams), so the console must
// never open one per page or per widget.
//
// subscribe(type, handler) -> unsubscribe
//   type: 'presence' | 'state' | 'telemetry' | 'rollout' (the server's event
//   names), or 'connection' ({ open: bool, reconnect: bool }) to learn when
//   the stream drops and comes back; `reconnect` is true when it had been
//   open before, and a page should refetch then: events in between are lost.

const EVENT_TYPES = ['presence', 'state', 'telemetry', 'rollout'];
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

const handlers = new Map(); // type -> Set of handlers
let source = null;
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let everOpened = false; // since the last close(): a later open is a reconnect

function emit(type, data) {
  for (const fn of handlers.get(type) || []) {
    try {
      fn(data);
    } catch (err) {
      // One page's broken handler must not stop the others.
      console.error(`events: ${type} handler failed`, err);
    }
  }
}

// Only data subscribers keep the stream open; a 'connection' listener (the
// header's live indicator) alone does not.
function subscriberCount() {
  let n = 0;
  for (const type of EVENT_TYPES) n += (handlers.get(type) || new Set()).size;
  return n;
}

function open() {
  if (source || retryTimer) return;
  source = new EventSource('/api/v1/events', { withCredentials: true });
  source.onopen = () => {
    retryMs = RETRY_MIN_MS;
    emit('connection', { open: true, reconnect: everOpened });
    everOpened = true;
  };
  source.onerror = () => {
    // The browser retries a dropped stream by itself, but gives up for good
    // on an error answer (401, 503 when the broker's 64 streams are taken);
    // then we retry ourselves with a growing delay.
    emit('connection', { open: false, reconnect: false });
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      retryTimer = setTimeout(() => {
        retryTimer = null;
        if (subscriberCount() > 0) open();
      }, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  };
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return; // not JSON: nothing a page could use
      }
      emit(type, data);
    });
  }
}

export function subscribe(type, handler) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(handler);
  if (EVENT_TYPES.includes(type)) open();
  return () => {
    const set = handlers.get(type);
    if (set) set.delete(handler);
  };
}

export function isOpen() {
  return source !== null && source.readyState === EventSource.OPEN;
}

// Close the stream (on sign-out), so a later sign-in opens it with the new
// session's cookie. Subscriptions are kept: the pages own them.
export function close() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  retryMs = RETRY_MIN_MS;
  everOpened = false;
}

// Open again after sign-in when pages are still subscribed.
export function reopen() {
  close();
  if (subscriberCount() > 0) open();
}

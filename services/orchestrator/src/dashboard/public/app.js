/**
 * The dashboard's entry: sign-in (a bearer token pasted by the user, checked with
 * `GET /api/v1/whoami`, kept in `sessionStorage`), the live event stream of the whole log shared
 * by the views, and a hash router: `#/` the fleet, `#/releases/<id>` a release.
 */
import {
  ApiError,
  api,
  clearToken,
  describe,
  followEvents,
  storedToken,
  storeToken,
  whenUnauthenticated,
} from './api.js';
import { h, replace } from './dom.js';
import { renderFleet } from './fleet.js';
import { renderRelease } from './release.js';

/** @typedef {import('./api.js').Identity} Identity */
/** @typedef {import('./api.js').StreamedEvent} StreamedEvent */
/**
 * What a view gets.
 * @typedef {{
 *   identity: Identity,
 *   signal: AbortSignal,
 *   onEvent: (listener: (event: StreamedEvent) => void) => void,
 *   notice: (text: string, kind?: 'error' | 'info') => void,
 * }} ViewContext
 */

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const liveBadge = /** @type {HTMLElement} */ (document.getElementById('live'));
const signOutButton = /** @type {HTMLButtonElement} */ (document.getElementById('sign-out'));
const noticeBox = /** @type {HTMLElement} */ (document.getElementById('notice'));

/** @type {Identity | undefined} */
let identity;
/** The live stream's lifetime (while signed in). */
let live = new AbortController();
/** The current view's lifetime. */
let view = new AbortController();
/** @type {Set<(event: StreamedEvent) => void>} */
const listeners = new Set();

/**
 * Shows a message above the page until the next one (or until dismissed).
 * @param {string} text
 * @param {'error' | 'info'} [kind]
 */
function notice(text, kind = 'error') {
  replace(
    noticeBox,
    h('span', { class: 'text' }, text),
    h('button', { type: 'button', class: 'dismiss', onclick: () => hideNotice() }, 'Dismiss'),
  );
  noticeBox.className = `notice notice-${kind}`;
  noticeBox.hidden = false;
}

function hideNotice() {
  noticeBox.hidden = true;
  noticeBox.replaceChildren();
}

function startLive() {
  live.abort();
  live = new AbortController();
  liveBadge.hidden = false;
  setLive('reconnecting');
  void followEvents('/api/v1/events', {
    signal: live.signal,
    onEvent: (event) => {
      for (const listener of listeners) listener(event);
    },
    onState: (state, detail) => {
      if (state === 'refused')
        signOut(`Signed out: the event stream refused the token (${detail}).`);
      else setLive(state);
    },
  });
}

/** @param {'live' | 'reconnecting'} state */
function setLive(state) {
  liveBadge.textContent = state === 'live' ? '● live' : '○ reconnecting…';
  liveBadge.dataset.state = state;
}

/** @param {string} [message] */
function signOut(message) {
  clearToken();
  identity = undefined;
  live.abort();
  liveBadge.hidden = true;
  if (message !== undefined) notice(message);
  route();
}

function showIdentity() {
  if (identity === undefined) {
    who.hidden = true;
    nav.hidden = true;
    signOutButton.hidden = true;
    return;
  }
  replace(
    who,
    h('span', { class: 'name' }, identity.name),
    ' ',
    h('span', { class: `role role-${identity.role}`, 'data-role': identity.role }, identity.role),
  );
  who.hidden = false;
  nav.hidden = false;
  signOutButton.hidden = false;
}

function signInPage() {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  /** @param {string} text */
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  const form = h(
    'form',
    {
      class: 'sign-in',
      onsubmit: async (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (token === '') return fail('Paste a token first.');
        button.disabled = true;
        try {
          identity = await api('/api/v1/whoami', { token });
          storeToken(token);
          hideNotice();
          startLive();
          route();
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) {
            fail(`The token was refused: ${e.message}. Check that you pasted all of it.`);
          } else {
            fail(`Signing in failed: ${describe(e)}`);
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', {}, 'Sign in'),
    h(
      'p',
      {},
      'Paste an API token: the one `npm start` prints (export AVIARY_TOKEN=…), or one of ',
      h('code', {}, 'AVIARY_API_TOKENS'),
      '. It stays in this browser tab only.',
    ),
    h('label', { class: 'field', for: 'token' }, 'API token'),
    input,
    button,
    error,
  );
  replace(main, form);
  input.focus();
}

function route() {
  view.abort();
  view = new AbortController();
  listeners.clear();
  showIdentity();
  if (identity === undefined) return signInPage();
  const signal = view.signal;
  /** @type {ViewContext} */
  const context = {
    identity,
    signal,
    onEvent: (listener) => {
      listeners.add(listener);
      signal.addEventListener('abort', () => listeners.delete(listener), { once: true });
    },
    notice,
  };
  const match = /^#\/releases\/([^/]+)$/.exec(location.hash);
  const render = match?.[1]
    ? renderRelease(main, decodeURIComponent(match[1]), context)
    : renderFleet(main, context);
  render.catch((error) => {
    if (signal.aborted) return;
    replace(main, h('p', { class: 'error', role: 'alert' }, `Loading failed: ${describe(error)}`));
  });
}

async function start() {
  whenUnauthenticated((error) =>
    signOut(`Signed out: the API no longer accepts the token (${error.message}).`),
  );
  signOutButton.addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => route());
  if (storedToken() !== undefined) {
    try {
      identity = await api('/api/v1/whoami');
      startLive();
    } catch (error) {
      clearToken();
      if (!(error instanceof ApiError && error.status === 401)) {
        notice(`Could not check the stored token: ${describe(error)}`);
      }
    }
  }
  route();
}

void start();

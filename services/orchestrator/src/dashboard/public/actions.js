/**
 * Operator actions on a release (`POST /api/v1/releases/{id}/actions`, `/retry`) and on the
 * application's manual gates (`.../gates/{gate}/open|close`), each after a confirmation that says
 * what it will do and asks for a reason (recorded with the action). For a viewer they are shown
 * disabled with a note; if the API refuses anyway (403: the token's role changed, or another
 * tab signed in with another token), its message is shown next to the buttons.
 */
import { ApiError, api, describe } from './api.js';
import { h } from './dom.js';

/** What each action does, for the confirmation. */
const RELEASE_ACTIONS = [
  { action: 'pause', label: 'Pause', what: 'halt the fleet: no wave starts, no canary steps' },
  { action: 'resume', label: 'Resume', what: 'lift the pause' },
  {
    action: 'promote',
    label: 'Promote',
    what: 'promote every running canary now, without the remaining analysis or gates',
  },
  {
    action: 'abort',
    label: 'Abort',
    what: 'stop the release: running canaries roll back and no wave starts',
  },
  { action: 'rollback', label: 'Roll back', what: 'roll back every running canary now' },
];
const CLUSTER_ACTIONS = [
  { action: 'pause', label: 'Pause', what: 'freeze this cluster canary' },
  { action: 'resume', label: 'Resume', what: 'lift this cluster canary’s pause' },
  { action: 'promote', label: 'Promote', what: 'promote this cluster canary now' },
  { action: 'rollback', label: 'Roll back', what: 'roll this cluster canary back now' },
  { action: 'retry', label: 'Retry', what: 'run this failed cluster canary’s revision again' },
  { action: 'skip', label: 'Skip', what: 'leave this cluster out of the release without failing' },
  { action: 'requeue', label: 'Requeue', what: 'put this skipped cluster back' },
];

/**
 * Asks for confirmation in the page's dialog; resolves with the reason typed, or undefined when
 * cancelled.
 * @param {string} title
 * @param {string} text
 * @returns {Promise<{ reason: string } | undefined>}
 */
export function confirmAction(title, text) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'));
  const reason = /** @type {HTMLInputElement} */ (document.getElementById('confirm-reason'));
  /** @type {HTMLElement} */ (document.getElementById('confirm-title')).textContent = title;
  /** @type {HTMLElement} */ (document.getElementById('confirm-text')).textContent = text;
  reason.value = '';
  dialog.returnValue = '';
  dialog.showModal();
  reason.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => resolve(dialog.returnValue === 'confirm' ? { reason: reason.value.trim() } : undefined),
      { once: true },
    );
  });
}

/**
 * Every manual gate of an application: those it has a state for, and those its webhooks name
 * (`aviary-gate:<gate>`), wherever they are in the spec.
 * @param {any} application
 * @returns {string[]}
 */
export function gatesOf(application) {
  const names = new Set(Object.keys(application?.gates ?? {}));
  /** @param {unknown} value */
  const visit = (value) => {
    if (typeof value === 'string' && value.startsWith('aviary-gate:')) {
      names.add(value.slice('aviary-gate:'.length));
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const item of Object.values(value)) visit(item);
    }
  };
  visit(application?.spec);
  return [...names].sort();
}

/**
 * @param {{
 *   release: any, application: any, identity: import('./api.js').Identity,
 *   done: () => void, result: HTMLElement, state: { cluster?: string },
 * }} options `result` shows how the last action went and `state` the cluster chosen: both
 *   outlive the panel, which is built again whenever the release changes
 * @returns {HTMLElement}
 */
export function actionsPanel({ release, application, identity, done, result, state }) {
  const canAct = identity.role === 'operator' || identity.role === 'admin';
  const finished = release.status === 'finished';
  const id = encodeURIComponent(release.releaseId);

  /**
   * @param {string} title
   * @param {string} text
   * @param {string} path
   * @param {Record<string, unknown>} body
   */
  const perform = async (title, text, path, body) => {
    const confirmed = await confirmAction(title, text);
    if (confirmed === undefined) return;
    result.className = 'action-result pending';
    result.textContent = `${title} …`;
    try {
      await api(path, {
        method: 'POST',
        body: confirmed.reason === '' ? body : { ...body, reason: confirmed.reason },
      });
      result.className = 'action-result ok';
      result.textContent = `${title}: recorded. The page follows its effect.`;
      done();
    } catch (error) {
      result.className = 'action-result error';
      if (error instanceof ApiError && error.status === 403) {
        result.textContent = `Not allowed (403 ${error.code}): ${error.message}. Acting needs an operator token.`;
      } else if (error instanceof ApiError) {
        result.textContent = `${title} failed (${error.status || 'no answer'} ${error.code}): ${error.message}`;
      } else {
        result.textContent = `${title} failed: ${describe(error)}`;
      }
    }
  };

  const clusters = release.waves.flatMap((/** @type {any} */ w) => w.clusters);
  const clusterSelect = h(
    'select',
    {
      id: 'action-cluster',
      'aria-label': 'cluster',
      disabled: !canAct || finished,
      onchange: () => {
        state.cluster = clusterSelect.value;
      },
    },
    clusters.map((/** @type {string} */ c) =>
      h('option', { value: c, selected: c === state.cluster }, c),
    ),
  );
  const app = `${release.application.namespace}/${release.application.name}`;
  const gates = gatesOf(application);

  return h(
    'section',
    { class: 'actions', id: 'actions' },
    h('h2', {}, 'Actions'),
    canAct
      ? null
      : h(
          'p',
          { class: 'viewer-note', id: 'viewer-note' },
          `Signed in as ${identity.name} with the ${identity.role} role: you can look, not act. Acting needs an operator token.`,
        ),
    h(
      'div',
      { class: 'action-row' },
      h('span', { class: 'label' }, 'Release'),
      RELEASE_ACTIONS.map(({ action, label, what }) =>
        h(
          'button',
          {
            type: 'button',
            'data-action': action,
            'data-scope': 'release',
            disabled: !canAct || finished,
            class: action === 'abort' || action === 'rollback' ? 'danger' : undefined,
            onclick: () =>
              perform(
                `${label} ${release.releaseId}`,
                `This will ${what} (release ${release.releaseId} of ${app}).`,
                `/api/v1/releases/${id}/actions`,
                { action },
              ),
          },
          label,
        ),
      ),
      finished && /FAILED|ABORTED/.test(String(release.outcome))
        ? h(
            'button',
            {
              type: 'button',
              'data-action': 'retry-release',
              disabled: !canAct,
              onclick: () =>
                perform(
                  `Retry ${release.releaseId}`,
                  `This will start a new release of revision ${release.revisionId}.`,
                  `/api/v1/releases/${id}/retry`,
                  {},
                ),
            },
            'Retry release',
          )
        : null,
    ),
    h(
      'div',
      { class: 'action-row' },
      h('span', { class: 'label' }, 'Cluster'),
      clusterSelect,
      CLUSTER_ACTIONS.map(({ action, label, what }) =>
        h(
          'button',
          {
            type: 'button',
            'data-action': action,
            'data-scope': 'cluster',
            disabled: !canAct || finished,
            onclick: () =>
              perform(
                `${label} ${clusterSelect.value}`,
                `This will ${what} (cluster ${clusterSelect.value}, release ${release.releaseId}).`,
                `/api/v1/releases/${id}/actions`,
                { action, cluster: clusterSelect.value },
              ),
          },
          label,
        ),
      ),
    ),
    gates.length === 0
      ? null
      : h(
          'div',
          { class: 'action-row gates' },
          h('span', { class: 'label' }, 'Gates'),
          gates.map((gate) => {
            const open = application?.gates?.[gate] === true;
            return h(
              'span',
              { class: 'gate', 'data-gate': gate, 'data-open': String(open) },
              h(
                'span',
                { class: `gate-state ${open ? 'open' : 'closed'}` },
                `${gate}: ${open ? 'open' : 'closed'}`,
              ),
              h(
                'button',
                {
                  type: 'button',
                  'data-action': open ? 'gate-close' : 'gate-open',
                  disabled: !canAct,
                  onclick: () =>
                    perform(
                      `${open ? 'Close' : 'Open'} gate ${gate}`,
                      open
                        ? `This will close the gate ${gate} of ${app}: webhooks aviary-gate:${gate} fail until it is opened.`
                        : `This will open the gate ${gate} of ${app}: webhooks aviary-gate:${gate} pass.`,
                      `/api/v1/applications/${release.application.namespace}/${release.application.name}/gates/${encodeURIComponent(gate)}/${open ? 'close' : 'open'}`,
                      {},
                    ),
                },
                open ? 'Close' : 'Open',
              ),
            );
          }),
        ),
    result,
  );
}

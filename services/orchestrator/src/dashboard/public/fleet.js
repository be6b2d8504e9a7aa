/**
 * The fleet view: for every application, the grid (waves × clusters) of its active release, or
 * of the release chosen in its list (the latest one when none is active), updated live: an event
 * of the log about an application or one of its releases reloads that application's part from
 * the read model.
 */
import { api } from './api.js';
import { h, replace } from './dom.js';
import { time } from './format.js';
import { fleetGrid } from './grid.js';
import { Refresher } from './refresher.js';

/** Releases listed in an application's chooser. */
const LISTED = 20;

/** The release each application shows, when the user chose one (kept while the tab lives). */
/** @type {Map<string, string>} */
const chosen = new Map();

/**
 * @param {HTMLElement} main
 * @param {import('./app.js').ViewContext} context
 */
export async function renderFleet(main, context) {
  const list = h('div', { class: 'applications' });
  replace(main, h('h1', {}, 'Fleet'), list);
  /** @type {Map<string, { section: HTMLElement, refresher: Refresher, releaseId?: string }>} */
  const parts = new Map();

  const loadApplications = async () => {
    const { applications } = await api('/api/v1/applications', { signal: context.signal });
    if (applications.length === 0) {
      replace(
        list,
        h(
          'p',
          { class: 'muted' },
          'No application yet: apply a Rollout (POST /api/v1/applications, or aviary apply -f).',
        ),
      );
      return;
    }
    for (const application of applications) {
      const key = `${application.namespace}/${application.name}`;
      if (parts.has(key)) continue;
      const section = h('section', { class: 'application', 'data-application': key });
      list.appendChild(section);
      const part = {
        section,
        refresher: new Refresher((wanted) => loadApplication(key, wanted), context.signal),
      };
      parts.set(key, part);
      part.refresher.request(0);
    }
  };

  /**
   * Loads one application's part; false when the read model is behind `wanted` (the version of
   * the release stream an event announced), so that the refresher asks again.
   * @param {string} key
   * @param {number} wanted
   */
  const loadApplication = async (key, wanted) => {
    const part = parts.get(key);
    if (part === undefined) return true;
    const signal = context.signal;
    const [namespace, name] = key.split('/');
    const application = await api(`/api/v1/applications/${namespace}/${name}`, { signal });
    const { releases } = await api(
      `/api/v1/releases?application=${encodeURIComponent(key)}&limit=${LISTED}`,
      { signal },
    );
    const pick =
      chosen.get(key) ??
      (releases.some((/** @type {any} */ r) => r.releaseId === application.activeReleaseId)
        ? application.activeReleaseId
        : releases[0]?.releaseId);
    /** @type {any} */
    let release;
    /** @type {any[]} */
    let canaries = [];
    if (pick !== undefined) {
      const id = encodeURIComponent(pick);
      [release, { canaries }] = await Promise.all([
        api(`/api/v1/releases/${id}`, { signal }),
        api(`/api/v1/releases/${id}/canaries`, { signal }),
      ]);
    }
    part.releaseId = pick;
    renderApplication(part.section, key, releases, release, canaries, () =>
      part.refresher.request(0),
    );
    return release === undefined || release.version >= wanted;
  };

  context.onEvent((event) => {
    const { streamId } = event;
    if (streamId.startsWith('rollout-')) {
      const key = streamId.slice('rollout-'.length).replace('.', '/');
      const part = parts.get(key);
      if (part === undefined) void loadApplications().catch(() => {});
      else part.refresher.request(0);
    } else if (streamId.startsWith('release-')) {
      // Release ids are `<namespace>.<name>.<n>`, namespaces and names DNS labels (no dots).
      const [namespace, name] = streamId.slice('release-'.length).split('.');
      const part = parts.get(`${namespace}/${name}`);
      if (part === undefined) return;
      const shown = part.releaseId === streamId.slice('release-'.length);
      part.refresher.request(shown ? event.version : 0);
    }
  });

  await loadApplications();
}

/**
 * @param {HTMLElement} section
 * @param {string} key
 * @param {any[]} releases
 * @param {any} release
 * @param {any[]} canaries
 * @param {() => void} reload
 */
function renderApplication(section, key, releases, release, canaries, reload) {
  const select = h(
    'select',
    {
      'aria-label': `release of ${key}`,
      onchange: () => {
        if (select.value === '') chosen.delete(key);
        else chosen.set(key, select.value);
        reload();
      },
    },
    h('option', { value: '' }, 'active or latest'),
    releases.map((/** @type {any} */ r) =>
      h(
        'option',
        { value: r.releaseId, selected: chosen.get(key) === r.releaseId },
        `${r.releaseId} (${r.revisionId}, ${r.status})`,
      ),
    ),
  );
  replace(
    section,
    h(
      'header',
      {},
      h('h2', {}, key),
      release === undefined
        ? h('span', { class: 'muted' }, 'no release yet')
        : [
            h(
              'a',
              {
                href: `#/releases/${encodeURIComponent(release.releaseId)}`,
                class: 'release-link',
              },
              release.releaseId,
            ),
            h('span', { class: 'muted' }, ` revision ${release.revisionId}`),
            statusBadge(release),
          ],
      h('label', { class: 'chooser' }, 'show ', select),
    ),
    release === undefined ? null : fleetGrid(release, canaries),
    release?.reason ? h('p', { class: 'reason' }, release.reason) : null,
    release === undefined
      ? null
      : h('p', { class: 'muted small' }, `updated ${time(release.updatedAt)}`),
  );
}

/**
 * The release's status (and outcome once finished).
 * @param {any} release
 */
export function statusBadge(release) {
  const outcome =
    release.status === 'finished' && release.outcome
      ? String(release.outcome)
          .replace(/^RELEASE_OUTCOME_/, '')
          .toLowerCase()
      : undefined;
  const word = outcome ?? release.status;
  return h(
    'span',
    { class: `status status-${word}`, 'data-status': release.status, 'data-outcome': outcome },
    word,
  );
}

/**
 * The fleet grid of one release: a row per wave, a column per cluster of the release, each cell
 * the cluster canary's phase and canary weight (from `GET /api/v1/releases/{id}` and
 * `/canaries`, i.e. the projections: confirmed weights, not requested ones).
 */
import { h } from './dom.js';
import { phaseName } from './format.js';

/**
 * @param {any} release a ReleaseView
 * @param {readonly any[]} canaries CanaryView[]
 * @returns {HTMLTableElement}
 */
export function fleetGrid(release, canaries) {
  /** @type {string[]} */
  const clusters = [];
  for (const wave of release.waves) {
    for (const cluster of wave.clusters) if (!clusters.includes(cluster)) clusters.push(cluster);
  }
  const byCluster = new Map(canaries.map((c) => [c.cluster, c]));
  return h(
    'table',
    { class: 'grid', 'data-release': release.releaseId },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Wave'),
        clusters.map((c) => h('th', { scope: 'col', 'data-cluster': c }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      release.waves.map((/** @type {any} */ wave, /** @type {number} */ index) =>
        h(
          'tr',
          {
            'data-wave': wave.name,
            class: `wave wave-${wave.status}${index === release.currentWave ? ' current' : ''}`,
          },
          h(
            'th',
            { scope: 'row' },
            h('span', { class: 'wave-name' }, wave.name),
            h('span', { class: 'wave-status' }, wave.status),
          ),
          clusters.map((cluster) =>
            wave.clusters.includes(cluster)
              ? cell(cluster, byCluster.get(cluster))
              : h('td', { class: 'empty' }),
          ),
        ),
      ),
    ),
  );
}

/**
 * @param {string} cluster
 * @param {any} canary
 */
function cell(cluster, canary) {
  const phase = phaseName(canary?.phase);
  const weight = canary?.canaryWeightPercent ?? 0;
  /** @type {string[]} */
  const flags = [];
  if (canary?.paused) flags.push('paused');
  if (canary?.skipped) flags.push('skipped');
  if (canary?.revert) {
    flags.push(canary.revert.status === 'failed' ? 'revert failed' : canary.revert.status);
  }
  if ((canary?.failedChecks ?? 0) > 0) {
    flags.push(`${canary.failedChecks} failed check${canary.failedChecks === 1 ? '' : 's'}`);
  }
  return h(
    'td',
    {
      class: `cell phase-${phase.toLowerCase()}`,
      'data-cluster': cluster,
      'data-phase': phase,
      'data-weight': weight,
      title: canary?.lastReason ?? '',
    },
    h('span', { class: 'phase' }, phase),
    h('span', { class: 'weight' }, `${weight}%`),
    h('progress', { max: 100, value: weight, 'aria-label': `${cluster} canary weight` }),
    flags.length > 0 ? h('span', { class: 'flags' }, flags.join(' · ')) : null,
  );
}

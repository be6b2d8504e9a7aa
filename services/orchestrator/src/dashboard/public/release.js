/**
 * A release's page: its status, its grid, the operator actions, canary-versus-primary charts
 * per cluster and check drawn from the verdicts' evidence, the verdicts with their evidence, and
 * the timeline with reasons. Everything comes from the read model (`/api/v1/releases/{id}`,
 * `/canaries`, `/timeline`, the application); the live event stream says when to read again.
 */
import { actionsPanel } from './actions.js';
import { api, timelineAfter } from './api.js';
import { lineChart } from './charts.js';
import { h, replace } from './dom.js';
import { rateOf, unitOf, verdictsOf } from './evidence.js';
import { statusBadge } from './fleet.js';
import { enumWord, num, time } from './format.js';
import { fleetGrid } from './grid.js';
import { Refresher } from './refresher.js';

/** Timeline rows shown at most (newest first). */
const SHOWN_ENTRIES = 500;
/** Verdict rows shown at most (newest first). */
const SHOWN_VERDICTS = 100;

/**
 * Entry types left out of the timeline unless asked for: inputs (ticks, observations, verdicts,
 * which have their own table) and effects (`…Requested`). Decisions and operator actions remain.
 * @param {string} type
 */
function isDetail(type) {
  return (
    type === 'TickRecorded' ||
    type === 'ObservationRecorded' ||
    type === 'AnalysisVerdictRecorded' ||
    type.endsWith('Requested')
  );
}

/**
 * @param {HTMLElement} main
 * @param {string} releaseId
 * @param {import('./app.js').ViewContext} context
 */
export async function renderRelease(main, releaseId, context) {
  const { signal } = context;
  const id = encodeURIComponent(releaseId);
  const header = h('section', { class: 'release-header' });
  const gridBox = h('section', { class: 'release-grid' });
  const actionsBox = h('div', {});
  const chartsBox = h('section', { class: 'charts', id: 'charts' });
  const verdictsBox = h('section', { class: 'verdicts', id: 'verdicts' });
  const timelineBox = h('section', { class: 'timeline', id: 'timeline' });
  const result = h('p', { id: 'action-result', class: 'action-result', role: 'status' });
  /** @type {{ cluster?: string }} */
  const actionState = {};
  /** @type {{ cluster?: string }} */
  const chartState = {};
  let showAll = false;
  /** @type {any[]} */
  const entries = [];
  let lastVersion = 0;
  /** @type {any} */
  let application;
  let applicationStale = true;
  /** @type {any} */
  let release;
  /** @type {any[]} */
  let canaries = [];

  replace(
    main,
    h('p', { class: 'back' }, h('a', { href: '#/' }, '← Fleet')),
    header,
    gridBox,
    actionsBox,
    chartsBox,
    verdictsBox,
    timelineBox,
  );

  const render = () => {
    replace(
      header,
      h('h1', {}, release.releaseId, ' ', statusBadge(release)),
      h(
        'p',
        {},
        `${release.application.namespace}/${release.application.name}, revision ${release.revisionId}; started ${time(release.startedAt)}`,
        release.finishedAt ? `, finished ${time(release.finishedAt)}` : '',
      ),
      release.reason ? h('p', { class: 'reason', id: 'release-reason' }, release.reason) : null,
    );
    replace(gridBox, fleetGrid(release, canaries));
    replace(
      actionsBox,
      actionsPanel({
        release,
        application,
        identity: context.identity,
        result,
        state: actionState,
        done: () => {
          applicationStale = true;
          refresher.request(0);
        },
      }),
    );
    renderCharts();
    renderVerdicts();
    renderTimeline();
  };

  const renderCharts = () => {
    const verdicts = verdictsOf(entries);
    const clusters = [...new Set(verdicts.map((v) => v.cluster))];
    if (clusters.length === 0) {
      replace(
        chartsBox,
        h('h2', {}, 'Canary vs primary'),
        h('p', { class: 'muted' }, 'No analysis verdict yet.'),
      );
      return;
    }
    const cluster =
      chartState.cluster !== undefined && clusters.includes(chartState.cluster)
        ? chartState.cluster
        : clusters[0];
    const mine = verdicts.filter((v) => v.cluster === cluster);
    const checks = [...new Set(mine.map((v) => v.check))];
    replace(
      chartsBox,
      h('h2', {}, 'Canary vs primary'),
      h(
        'div',
        { class: 'tabs', role: 'tablist' },
        clusters.map((c) =>
          h(
            'button',
            {
              type: 'button',
              role: 'tab',
              'aria-selected': String(c === cluster),
              'data-chart-cluster': c,
              onclick: () => {
                chartState.cluster = c;
                renderCharts();
              },
            },
            c,
          ),
        ),
      ),
      checks.map((check) =>
        checkCharts(
          cluster ?? '',
          check,
          mine.filter((v) => v.check === check),
        ),
      ),
    );
  };

  const renderVerdicts = () => {
    const verdicts = verdictsOf(entries).reverse().slice(0, SHOWN_VERDICTS);
    replace(
      verdictsBox,
      h('h2', {}, 'Verdicts'),
      verdicts.length === 0
        ? h('p', { class: 'muted' }, 'No analysis verdict yet.')
        : h(
            'table',
            { class: 'verdict-table' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                [
                  'Time',
                  'Cluster',
                  'Check',
                  'Outcome',
                  'Value',
                  'Threshold',
                  'Bounds',
                  'Canary (bad/total)',
                  'Primary (bad/total)',
                  'Message',
                ].map((title) => h('th', { scope: 'col' }, title)),
              ),
            ),
            h(
              'tbody',
              {},
              verdicts.map((v) => {
                const unit = unitOf(v.check, v.measure);
                const outcome = enumWord(v.outcome, 'ANALYSIS_OUTCOME_');
                return h(
                  'tr',
                  {
                    class: `verdict outcome-${outcome}`,
                    'data-cluster': v.cluster,
                    'data-check': v.check,
                  },
                  h('td', {}, time(v.recordedAt)),
                  h('td', {}, v.cluster),
                  h('td', {}, v.check),
                  h('td', { class: 'outcome' }, outcome),
                  h('td', {}, v.value === undefined ? '–' : `${num(v.value, 3)} ${unit}`.trim()),
                  h('td', {}, thresholdText(v.min, v.max, unit)),
                  h(
                    'td',
                    {},
                    v.lower === undefined && v.upper === undefined
                      ? '–'
                      : `${num(v.lower, 3)} – ${num(v.upper, 3)}`,
                  ),
                  h('td', {}, v.canary ? `${v.canary.bad}/${v.canary.total}` : '–'),
                  h('td', {}, v.primary ? `${v.primary.bad}/${v.primary.total}` : '–'),
                  h('td', { title: v.query ?? '' }, v.message),
                );
              }),
            ),
          ),
    );
  };

  const renderTimeline = () => {
    const shown = entries.filter((e) => showAll || !isDetail(e.type));
    const rows = shown.slice(-SHOWN_ENTRIES).reverse();
    const toggle = h('input', {
      type: 'checkbox',
      id: 'timeline-all',
      checked: showAll,
      onchange: () => {
        showAll = toggle.checked;
        renderTimeline();
      },
    });
    replace(
      timelineBox,
      h('h2', {}, 'Timeline'),
      h(
        'label',
        { class: 'toggle' },
        toggle,
        ' show inputs and effects (ticks, observations, verdicts, requests)',
      ),
      h(
        'ol',
        { class: 'entries', reversed: true },
        rows.map((e) =>
          h(
            'li',
            { class: `entry type-${e.type}`, 'data-type': e.type, 'data-version': e.streamVersion },
            h('time', { datetime: e.recordedAt }, time(e.recordedAt)),
            h('span', { class: 'summary' }, e.summary),
            e.actor ? h('span', { class: 'actor' }, e.actor) : null,
            h('span', { class: 'type' }, e.type),
          ),
        ),
      ),
      shown.length > rows.length
        ? h('p', { class: 'muted' }, `${shown.length - rows.length} older entries not shown.`)
        : null,
    );
  };

  /**
   * Reads the release again; false while the read model is behind `wanted`.
   * @param {number} wanted
   */
  const load = async (wanted) => {
    const [fresh, list] = await Promise.all([
      api(`/api/v1/releases/${id}`, { signal }),
      api(`/api/v1/releases/${id}/canaries`, { signal }),
    ]);
    if (applicationStale || application === undefined) {
      applicationStale = false;
      const ref = fresh.application;
      application = await api(`/api/v1/applications/${ref.namespace}/${ref.name}`, { signal });
    }
    const more = await timelineAfter(releaseId, lastVersion, signal);
    entries.push(...more);
    if (more.length > 0) lastVersion = more[more.length - 1].streamVersion;
    release = fresh;
    canaries = list.canaries;
    render();
    return release.version >= wanted && lastVersion >= wanted;
  };
  const refresher = new Refresher(load, signal);

  await load(0);
  const rollout = `rollout-${release.application.namespace}.${release.application.name}`;
  context.onEvent((event) => {
    if (event.streamId === `release-${releaseId}`) {
      refresher.request(event.version);
    } else if (event.streamId === rollout) {
      applicationStale = true;
      refresher.request(0);
    }
  });
  // Whatever happened between the first read and the subscription above.
  refresher.request(0);
}

/**
 * @param {number | undefined} min
 * @param {number | undefined} max
 * @param {string} unit
 */
function thresholdText(min, max, unit) {
  const u = unit === '' ? '' : ` ${unit}`;
  if (min !== undefined && max !== undefined) return `${num(min)} – ${num(max)}${u}`;
  if (min !== undefined) return `≥ ${num(min)}${u}`;
  if (max !== undefined) return `≤ ${num(max)}${u}`;
  return '–';
}

/**
 * The charts of one check in one cluster: its value over time against the thresholds, with the
 * primary beside the canary when the value is a rate (the primary's from its own counts); for
 * other values (a latency), a second chart of the share of bad (slow) requests, canary vs
 * primary, when both counts were recorded.
 * @param {string} cluster
 * @param {import('./evidence.js').Verdict[]} verdicts
 * @param {string} check
 */
function checkCharts(cluster, check, verdicts) {
  const last = verdicts[verdicts.length - 1];
  const measure = last?.measure ?? 'value';
  const unit = unitOf(check, measure);
  const withValue = verdicts.filter((v) => v.value !== undefined);
  const point = (/** @type {import('./evidence.js').Verdict} */ v, /** @type {number} */ y) => ({
    x: v.at,
    y,
    cls: `outcome-${enumWord(v.outcome, 'ANALYSIS_OUTCOME_')}`,
    label: enumWord(v.outcome, 'ANALYSIS_OUTCOME_'),
  });
  const canary = withValue.map((v) => ({
    ...point(v, /** @type {number} */ (v.value)),
    ...(v.lower !== undefined && v.upper !== undefined ? { low: v.lower, high: v.upper } : {}),
  }));
  const primary = withValue
    .filter((v) => v.primaryValue !== undefined)
    .map((v) => point(v, /** @type {number} */ (v.primaryValue)));
  /** @type {import('./charts.js').Threshold[]} */
  const thresholds = [];
  if (last?.min !== undefined)
    thresholds.push({ label: `min ${num(last.min)}`, y: last.min, kind: 'min' });
  if (last?.max !== undefined)
    thresholds.push({ label: `max ${num(last.max)}`, y: last.max, kind: 'max' });
  const title = `${check} · ${cluster}`;
  /** @type {HTMLElement[]} */
  const figures = [];
  /**
   * @param {string} caption
   * @param {SVGElement} chart
   */
  const add = (caption, chart) =>
    figures.push(
      h('div', { class: 'chart-box' }, h('p', { class: 'chart-title' }, caption), chart),
    );
  if (canary.length > 0) {
    add(
      measure === 'value'
        ? `measured value (${unit || 'no unit'}) against the threshold`
        : `${measure === 'success-rate' ? 'success' : 'error'} rate, canary vs primary, against the threshold`,
      lineChart({
        title,
        unit,
        series: [
          { name: 'canary', cls: 'canary', points: canary },
          ...(primary.length > 0 ? [{ name: 'primary', cls: 'primary', points: primary }] : []),
        ],
        thresholds,
      }),
    );
  }
  if (measure === 'value') {
    const both = verdicts.filter((v) => v.canary !== undefined && v.primary !== undefined);
    const share = (/** @type {'canary' | 'primary'} */ side) =>
      both
        .map((v) => ({ v, y: rateOf('value', v[side]) }))
        .filter((p) => p.y !== undefined)
        .map((p) => point(p.v, /** @type {number} */ (p.y)));
    const canaryShare = share('canary');
    if (canaryShare.length > 0) {
      add(
        `share of bad requests (${check === 'request-duration' ? 'slower than the threshold' : 'as counted by the check'}), canary vs primary`,
        lineChart({
          title: `${check} · ${cluster}: bad requests`,
          unit: '%',
          series: [
            { name: 'canary', cls: 'canary', points: canaryShare },
            { name: 'primary', cls: 'primary', points: share('primary') },
          ],
          thresholds: [],
        }),
      );
    }
  }
  return h(
    'figure',
    { class: 'check', 'data-check': check, 'data-cluster': cluster },
    h(
      'figcaption',
      {},
      h('strong', {}, check),
      ` in ${cluster}: ${verdicts.length} verdict${verdicts.length === 1 ? '' : 's'}`,
      last
        ? `, latest ${enumWord(last.outcome, 'ANALYSIS_OUTCOME_')}${last.message ? `: ${last.message}` : ''}`
        : '',
    ),
    figures.length > 0
      ? figures
      : h('p', { class: 'muted' }, 'Its verdicts carry no measured value to draw.'),
  );
}

// Monitoring: whether the active version's recent orders still look like its training orders
// (drift: the score's and each feature's PSI against its sample-size-aware threshold), and how
// each version does on live orders whose outcome is known, beside its holdout.

import { request, query } from '../api.js';
import { h, dataTable, scroller, field } from '../dom.js';
import { t, fmt } from '../i18n.js';
import { chartFigure, hbars } from '../charts.js';

const SPANS = [7, 30, 90];

export default {
  name: 'monitoring',
  async render(ctx) {
    const { main } = ctx;
    const days = SPANS.includes(Number(ctx.query.get('days'))) ? Number(ctx.query.get('days')) : SPANS[0];
    main.append(h('h1', {}, t('monitoring.title')), spanPicker(ctx, days));
    const to = new Date();
    const from = new Date(to.getTime() - days * 86_400_000);
    const [drift, performance] = await Promise.all([
      request(`/v1/monitoring/drift${query({ from: from.toISOString(), to: to.toISOString() })}`).catch(absent),
      request('/v1/monitoring/performance'),
    ]);
    if (!ctx.current()) return;
    main.append(driftSection(drift), performanceSection(performance));
  },
};

/** A 409 (no active model, or a version trained before distributions were kept) is shown. */
function absent(error) {
  if (error?.status === 409) return { unavailable: error.message };
  throw error;
}

function spanPicker(ctx, days) {
  const select = h('select', { id: 'monitoring-days' },
    SPANS.map((d) => h('option', { value: d, selected: d === days }, t('monitoring.days', { days: d }))));
  select.addEventListener('change', () => ctx.go(`#/monitoring?days=${select.value}`));
  return h('div', { class: 'card wide filters' }, h('div', { class: 'form-grid' }, field(t('monitoring.window'), select)));
}

function driftSection(drift) {
  const section = h('section', { class: 'card wide', id: 'drift', 'aria-labelledby': 'drift-h' },
    h('h2', { id: 'drift-h' }, t('monitoring.drift')));
  if (drift.unavailable) {
    section.append(h('p', { id: 'drift-unavailable' }, drift.unavailable));
    return section;
  }
  section.append(
    h('p', { class: 'muted' }, t('monitoring.driftHelp', { alpha: fmt.pct(drift.alpha, 2) })),
    h('dl', { class: 'stats' },
      stat(t('model.version'), h('a', { href: `#/models/${drift.model_version}` }, `v${drift.model_version}`)),
      stat(t('monitoring.window'), `${fmt.dateTime(drift.from)} – ${fmt.dateTime(drift.to)}`),
      stat(t('monitoring.decisions'), fmt.int(drift.decisions), { id: 'drift-decisions', dataset: { value: drift.decisions } }),
      stat(t('monitoring.scorePsi'), `${fmt.num(drift.score.psi, 4)} (${t('monitoring.threshold')} ${fmt.num(drift.score.threshold, 4)})`,
        { id: 'drift-score', dataset: { value: drift.score.psi, drifting: String(drift.score.drifting) } })),
    verdict(drift));
  const ranked = [...drift.features].sort((a, b) => ratio(b) - ratio(a));
  const { figure, body } = chartFigure({
    id: 'drift-chart',
    caption: t('monitoring.driftChart'),
    table: scroller(dataTable([
      { label: t('monitoring.feature'), value: (f) => f.name },
      { label: 'PSI', value: (f) => fmt.num(f.psi, 4), num: true },
      { label: t('monitoring.threshold'), value: (f) => fmt.num(f.threshold, 4), num: true },
      { label: t('monitoring.band'), value: (f) => t(`band.${f.band}`, {}, f.band) },
      { label: t('monitoring.drifting'), value: (f) => (f.drifting ? t('common.yes') : t('common.no')) },
      { label: t('monitoring.cells'), value: (f) => fmt.int(f.bins), num: true },
    ], drift.features, {
      id: 'drift-table',
      rowAttrs: (f) => ({ dataset: { feature: f.name, drifting: String(f.drifting) } }),
    }), t('monitoring.driftChart')),
  });
  body.append(hbars(ranked.slice(0, 12).map((f) => ({
    label: f.name,
    value: ratio(f),
    text: `${fmt.num(ratio(f), 2)}×${f.drifting ? ' ⚠' : ''}`,
  })), { id: 'drift-bars' }));
  section.append(figure);
  return section;
}

function stat(label, value, attrs = {}) {
  return h('div', { class: 'stat' }, h('dt', {}, label), h('dd', attrs, value));
}

/** How many times its threshold a feature's PSI is. */
function ratio(feature) {
  return feature.threshold > 0 ? feature.psi / feature.threshold : 0;
}

function verdict(drift) {
  if (!drift.decisions) return h('p', { id: 'drift-verdict', dataset: { retrain: 'false' } }, t('monitoring.noDecisions'));
  if (!drift.retrain_suggested) {
    return h('p', { id: 'drift-verdict', class: 'notice', dataset: { retrain: 'false' } }, t('monitoring.stable'));
  }
  const named = drift.top_drifting.length ? drift.top_drifting.join(', ') : t('monitoring.scoreOnly');
  return h('p', { id: 'drift-verdict', class: 'notice error', role: 'status', dataset: { retrain: 'true' } },
    t('monitoring.retrain', { features: named }), ' ', h('a', { href: '#/models' }, t('monitoring.toModels')));
}

function performanceSection(report) {
  const section = h('section', { class: 'card wide', id: 'performance', 'aria-labelledby': 'performance-h' },
    h('h2', { id: 'performance-h' }, t('monitoring.performance')),
    h('p', { class: 'muted' }, t('monitoring.performanceHelp', {
      days: report.definition.days_past_due, within: report.definition.within_days,
    })));
  if (!report.versions.length) {
    section.append(h('p', {}, t('monitoring.noPerformance')));
    return section;
  }
  const interval = (i) => `${fmt.num(i.low, 3)}–${fmt.num(i.high, 3)}`;
  const live = (v, read) => (v.good + v.bad ? read(v.live) : '—');
  section.append(scroller(dataTable([
    { label: t('model.version'), value: (v) => h('a', { href: `#/models/${v.model_version}` }, `v${v.model_version}`) },
    { label: t('monitoring.decisions'), value: (v) => fmt.int(v.decisions), num: true, attrs: (v) => ({ dataset: { cell: 'decisions', value: v.decisions } }) },
    { label: t('monitoring.matured'), value: (v) => fmt.int(v.good + v.bad), num: true },
    { label: t('monitoring.approvalRate'), value: (v) => fmt.pct(v.live.approval_rate), num: true },
    { label: t('monitoring.holdoutApproval'), value: (v) => (v.holdout ? fmt.pct(v.holdout.approval_rate) : '—'), num: true },
    { label: t('monitoring.badRate'), value: (v) => live(v, (l) => `${fmt.pct(l.bad_rate)} (${interval(l.bad_rate_interval)})`), num: true },
    { label: t('metric.roc_auc'), value: (v) => live(v, (l) => `${fmt.num(l.auc, 3)} (${interval(l.auc_interval)})`), num: true },
    { label: t('monitoring.holdoutAuc'), value: (v) => (v.holdout ? fmt.num(v.holdout.auc, 3) : '—'), num: true },
    { label: t('metric.ks'), value: (v) => live(v, (l) => `${fmt.num(l.ks, 3)} (${interval(l.ks_interval)})`), num: true },
    { label: t('monitoring.holdoutKs'), value: (v) => (v.holdout ? fmt.num(v.holdout.ks, 3) : '—'), num: true },
  ], report.versions, {
    id: 'performance-table',
    rowAttrs: (v) => ({ dataset: { version: v.model_version } }),
  }), t('monitoring.performance')));
  return section;
}

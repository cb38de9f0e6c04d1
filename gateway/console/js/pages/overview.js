// Overview: the active model, decisions over time, the last uploads, what needs attention.

import { request, query } from '../api.js';
import { h, field, dataTable, scroller, replace } from '../dom.js';
import { t, fmt, statusLabel } from '../i18n.js';
import { chartFigure, chartEmpty, plot, axis, bars, COLORS } from '../charts.js';
import { datasetCounts } from './datasets.js';

export default {
  name: 'overview',
  async render(ctx) {
    const { main } = ctx;
    main.append(h('h1', {}, t('overview.title')));
    const [models, activity, recent, rejected, failed] = await Promise.all([
      request('/v1/models'),
      request(`/v1/decisions/activity${query({ bucket: 'day' })}`).catch((e) => ({ error: e })),
      request('/v1/datasets?limit=5'),
      request('/v1/datasets?status=rejected&limit=10'),
      request('/v1/models/runs?status=failed&limit=10'),
    ]);
    if (!ctx.current()) return;

    // The active model.
    const active = models.models.find((m) => m.active);
    const modelCard = h('section', { class: 'card', id: 'active-model', 'aria-labelledby': 'active-model-h' },
      h('h2', { id: 'active-model-h' }, t('overview.activeModel')));
    if (active) {
      modelCard.append(h('dl', { class: 'stats' },
        stat(t('model.version'), h('a', { href: `#/models/${active.version}` }, `v${active.version}`)),
        stat(t('model.learner'), t(`learner.${active.learner}`, {}, active.learner)),
        stat(t('metric.roc_auc'), fmt.num(active.holdout.roc_auc, 3), { 'data-metric': 'roc_auc', 'data-value': active.holdout.roc_auc }),
        stat(t('model.threshold'), fmt.num(active.threshold, 3)),
        stat(t('model.created'), fmt.dateTime(active.created_at))));
    } else {
      modelCard.append(h('p', {}, t('overview.noModel'), ' ', h('a', { href: '#/datasets' }, t('overview.uploadFirst'))));
    }

    // Activity.
    const range = h('select', { id: 'activity-range' },
      h('option', { value: '30d' }, t('overview.range30d')),
      h('option', { value: '7d' }, t('overview.range7d')),
      h('option', { value: '48h' }, t('overview.range48h')));
    const activityBody = h('div', { id: 'activity' });
    const showActivity = (data) => {
      if (data.error) replace(activityBody, h('p', { class: 'muted' }, t('overview.activityUnavailable'), ' ', data.error.message || ''));
      else replace(activityBody, activityChart(data));
    };
    range.addEventListener('change', async () => {
      const hours = { '30d': 720, '7d': 168, '48h': 48 }[range.value];
      const to = new Date();
      const from = new Date(to.getTime() - hours * 3600_000);
      if (range.value !== '48h') from.setHours(0, 0, 0, 0);
      ctx.ready(false);
      const data = await request(`/v1/decisions/activity${query({ bucket: range.value === '48h' ? 'hour' : 'day', from: from.toISOString(), to: to.toISOString() })}`).catch((e) => ({ error: e }));
      if (!ctx.current()) return;
      showActivity(data);
      ctx.ready(true);
    });
    const activityCard = h('section', { class: 'card wide', 'aria-labelledby': 'activity-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'activity-h' }, t('overview.activity')),
        h('div', { class: 'inline-field' }, field(t('overview.range'), range))),
      activityBody);
    showActivity(activity);

    // Last uploads.
    const uploads = h('section', { class: 'card wide', 'aria-labelledby': 'uploads-h' },
      h('h2', { id: 'uploads-h' }, t('overview.uploads')));
    if (recent.datasets.length) {
      uploads.append(scroller(dataTable([
        { label: t('dataset.created'), value: (d) => fmt.dateTime(d.created_at) },
        { label: t('dataset.status'), value: (d) => h('span', { class: `badge status-${d.status}` }, statusLabel(d.status)) },
        { label: t('dataset.stored'), value: (d) => datasetCounts(d.counts.stored) },
        { label: t('dataset.model'), value: (d) => (d.model_version ? h('a', { href: `#/models/${d.model_version}` }, `v${d.model_version}`) : '—') },
      ], recent.datasets, { id: 'recent-datasets', rowAttrs: (d) => ({ dataset: { datasetId: d.dataset_id, status: d.status } }) }), t('overview.uploads')),
      h('p', {}, h('a', { href: '#/datasets' }, t('overview.allDatasets'))));
    } else {
      uploads.append(h('p', {}, t('overview.noUploads'), ' ', h('a', { href: '#/datasets' }, t('overview.uploadFirst'))));
    }

    // Needs attention.
    const attention = h('section', { class: 'card', id: 'attention', 'aria-labelledby': 'attention-h' },
      h('h2', { id: 'attention-h' }, t('overview.attention')));
    const items = [];
    for (const d of rejected.datasets) {
      items.push(h('li', { class: 'attention-item', dataset: { kind: 'dataset-rejected', datasetId: d.dataset_id } },
        h('strong', {}, t('overview.rejectedDataset', { date: fmt.dateTime(d.created_at) })), ' ',
        h('code', {}, d.dataset_id.slice(0, 8)),
        d.rejection_reasons.length ? h('ul', {}, d.rejection_reasons.map((r) => h('li', {}, r))) : null));
    }
    for (const run of failed.runs) {
      items.push(h('li', { class: 'attention-item', dataset: { kind: 'training-failed', requestId: run.request_id } },
        h('strong', {}, t('overview.failedRun', { date: fmt.dateTime(run.finished_at || run.queued_at) })), ' ',
        run.reason || ''));
    }
    attention.append(items.length ? h('ul', { class: 'attention' }, items) : h('p', { class: 'ok-text' }, t('overview.allClear')));

    main.append(h('div', { class: 'grid' }, modelCard, attention, activityCard, uploads));
  },
};

function stat(label, value, attrs = {}) {
  return h('div', { class: 'stat', ...attrs }, h('dt', {}, label), h('dd', {}, value));
}

function activityChart(activity) {
  const buckets = activity.buckets || [];
  const byDay = activity.bucket !== 'hour';
  const when = (b) => (byDay ? fmt.date(b.start) : fmt.dateTime(b.start));
  const totals = buckets.reduce((a, b) => ({ d: a.d + b.decisions, a: a.a + b.approved }), { d: 0, a: 0 });
  const caption = buckets.length
    ? t(byDay ? 'overview.activityCaption' : 'overview.activityCaptionHour', {
      from: when({ start: activity.from }), to: when({ start: activity.to }), decisions: fmt.int(totals.d),
      rate: fmt.pct(totals.d ? totals.a / totals.d : 0),
    })
    : t(byDay ? 'overview.activityNone' : 'overview.activityNoneHour', { from: when({ start: activity.from }), to: when({ start: activity.to }) });
  const table = dataTable([
    { label: t(byDay ? 'activity.day' : 'activity.hour'), value: when },
    { label: t('activity.decisions'), value: (b) => fmt.int(b.decisions), num: true },
    { label: t('activity.approved'), value: (b) => fmt.int(b.approved), num: true },
    { label: t('activity.rejected'), value: (b) => fmt.int(b.rejected), num: true },
    { label: t('activity.rate'), value: (b) => fmt.pct(b.decisions ? b.approved / b.decisions : 0), num: true },
  ], buckets, { id: 'activity-table' });
  const { figure, body } = chartFigure({ id: 'chart-activity', caption, table });
  if (!buckets.length) {
    chartEmpty(body, t('overview.noDecisions'));
    return figure;
  }
  requestAnimationFrame(() => {
    if (!body.isConnected) return;
    const step = byDay ? 86400 : 3600;
    const xs = buckets.map((b) => Date.parse(b.start) / 1000 + step / 2); // the middle of the bucket
    // The whole period asked for, so that quiet days show as gaps.
    const from = Math.min(xs[0] - step / 2, Math.floor(Date.parse(activity.from) / 1000));
    const to = Math.max(xs[xs.length - 1] + step / 2, Math.ceil(Date.parse(activity.to) / 1000));
    const whole = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1e6];
    plot(body, {
      height: 240,
      scales: {
        x: { time: true, range: [from, to] },
        n: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
        rate: { range: [0, 1] },
      },
      axes: [
        axis('', (u, splits) => splits.map((s) => fmt.shortDate(s * 1000, !byDay)), { space: byDay ? 60 : 110, incrs: byDay ? [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400] : [3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400] }),
        axis(t('activity.decisions'), (u, splits) => splits.map((s) => fmt.int(s)), { scale: 'n', incrs: whole }),
        axis(t('activity.rate'), (u, splits) => splits.map((s) => fmt.pct(s, 0)), { scale: 'rate', side: 1, grid: { show: false } }),
      ],
      series: [
        { label: t(byDay ? 'activity.day' : 'activity.hour'), value: (u, v) => (v == null ? '' : (byDay ? fmt.date((v - step / 2) * 1000) : fmt.dateTime((v - step / 2) * 1000))) },
        { label: t('activity.decisions'), scale: 'n', fill: 'rgba(26,79,214,0.35)', stroke: COLORS.primary, paths: bars(0, 0.7), points: { show: false }, value: (u, v) => (v == null ? '' : fmt.int(v)) },
        { label: t('activity.rate'), scale: 'rate', stroke: COLORS.approved, width: 2, points: { show: true, size: 6, fill: COLORS.approved }, value: (u, v) => (v == null ? '' : fmt.pct(v)) },
      ],
    }, [xs, buckets.map((b) => b.decisions), buckets.map((b) => (b.decisions ? b.approved / b.decisions : null))]);
  });
  return figure;
}

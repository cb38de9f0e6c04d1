// One model version: holdout metrics, confusion matrix, threshold and what it means, ROC, score
// distribution, calibration, feature importance, candidate learners, comparison with another
// version, activation after a confirmation dialog.

import { request, enc } from '../api.js';
import { h, field, dataTable, scroller, replace, announce } from '../dom.js';
import { t, fmt } from '../i18n.js';
import { chartFigure, chartEmpty, plot, axis, bars, hbars, verticalMarker, COLORS } from '../charts.js';

const METRICS = ['roc_auc', 'ks', 'accuracy', 'precision', 'recall', 'f1', 'brier'];
const CELLS = ['approved_predicted_approved', 'approved_predicted_blocked', 'blocked_predicted_approved', 'blocked_predicted_blocked'];

export function metricText(name, value) {
  if (value === null || value === undefined) return '—';
  if (['accuracy', 'precision', 'recall', 'f1'].includes(name)) return fmt.pct(value);
  if (name === 'brier') return fmt.num(value, 4);
  return fmt.num(value, 3);
}

export function approvalRate(confusion, examples) {
  const total = examples || CELLS.reduce((n, c) => n + (confusion[c] || 0), 0);
  return total ? (confusion.approved_predicted_approved + confusion.blocked_predicted_approved) / total : 0;
}

export default {
  name: 'model',
  async render(ctx) {
    const { main } = ctx;
    const version = Number(ctx.params[0]);
    const [model, list] = await Promise.all([request(`/v1/models/${enc(version)}`), request('/v1/models')]);
    if (!ctx.current()) return;
    const metrics = model.metrics || {};
    const holdout = metrics.holdout;
    const badge = h('span', { class: `badge ${model.active ? 'status-trained' : ''}`, id: 'model-state' }, model.active ? t('model.active') : t('model.candidate'));
    main.append(
      h('p', { class: 'crumbs' }, h('a', { href: '#/models' }, t('models.title')), ' › ', `v${model.version}`),
      h('h1', {}, t('model.heading', { version: model.version }), ' ', badge),
      h('p', { class: 'muted' }, t('model.summary', {
        learner: t(`learner.${model.learner}`, {}, model.learner),
        created: fmt.dateTime(model.created_at),
        training: fmt.int(metrics.training_examples ?? 0),
        holdout: fmt.int(metrics.holdout_examples ?? holdout?.examples ?? 0),
        split: t(`split.${metrics.split}`, {}, metrics.split || '—'),
      })));

    const grid = h('div', { class: 'grid' });
    main.append(grid);
    if (!holdout) {
      grid.append(h('section', { class: 'card wide' }, h('p', {}, t('model.noMetrics'))), activation(model, badge));
      return;
    }

    // Metrics.
    grid.append(h('section', { class: 'card wide', 'aria-labelledby': 'metrics-h' },
      h('h2', { id: 'metrics-h' }, t('model.holdoutMetrics')),
      h('p', { class: 'muted' }, t('model.holdoutHelp', { examples: fmt.int(holdout.examples) })),
      h('dl', { class: 'metrics' }, METRICS.map((name) => h('div', { class: 'metric', dataset: { metric: name, value: holdout[name] } },
        h('dt', {}, t(`metric.${name}`)),
        h('dd', {}, metricText(name, holdout[name])),
        h('dd', { class: 'metric-help' }, t(`metricHelp.${name}`)))))));

    // Threshold.
    const rate = approvalRate(holdout.confusion, holdout.examples);
    grid.append(h('section', { class: 'card', 'aria-labelledby': 'threshold-h' },
      h('h2', { id: 'threshold-h' }, t('model.threshold')),
      h('dl', { class: 'stats' },
        h('div', { class: 'stat', id: 'threshold', dataset: { value: model.threshold } }, h('dt', {}, t('model.threshold')), h('dd', {}, fmt.num(model.threshold, 4))),
        h('div', { class: 'stat', id: 'approval-rate', dataset: { value: rate } }, h('dt', {}, t('model.approvalRate')), h('dd', {}, fmt.pct(rate)))),
      h('p', {}, t('model.thresholdMeaning', { threshold: fmt.pct(model.threshold), rate: fmt.pct(rate) }))));

    // Confusion matrix.
    grid.append(h('section', { class: 'card', 'aria-labelledby': 'confusion-h' },
      h('h2', { id: 'confusion-h' }, t('model.confusion')),
      scroller(confusionTable(holdout.confusion), t('model.confusion')),
      h('p', { class: 'muted' }, t('model.confusionHelp'))));

    // Curves.
    const curves = metrics.holdout_curves;
    grid.append(h('section', { class: 'card wide charts', 'aria-labelledby': 'curves-h' },
      h('h2', { id: 'curves-h' }, t('model.curves')),
      h('div', { class: 'chart-grid' },
        rocChart(curves, holdout),
        scoresChart(curves, model.threshold),
        calibrationChart(curves),
        importanceChart(metrics.feature_importance || []))));

    // Candidates.
    grid.append(h('section', { class: 'card wide', 'aria-labelledby': 'candidates-h' },
      h('h2', { id: 'candidates-h' }, t('model.candidates')),
      scroller(dataTable([
        { label: t('model.learner'), value: (c) => h('span', {}, t(`learner.${c.learner}`, {}, c.learner), c.learner === metrics.chosen ? h('span', { class: 'badge status-trained' }, t('model.chosen')) : '') },
        { label: t('candidate.validationAuc'), value: (c) => (c.failure ? '—' : fmt.num(c.validation_auc, 4)), num: true },
        { label: t('candidate.holdoutAuc'), value: (c) => (c.failure ? '—' : fmt.num(c.holdout_auc, 4)), num: true },
        { label: t('candidate.seconds'), value: (c) => fmt.num(c.seconds, 2), num: true },
        { label: t('candidate.validationRows'), value: (c) => (c.validation_rows ? fmt.int(c.validation_rows) : '—'), num: true },
        { label: t('candidate.fittedRows'), value: (c) => (c.fitted_rows ? fmt.int(c.fitted_rows) : '—'), num: true },
        { label: t('candidate.failure'), value: (c) => c.failure || '—' },
      ], metrics.candidates || [], { id: 'candidates', rowAttrs: (c) => ({ dataset: { learner: c.learner, chosen: c.learner === metrics.chosen ? 'true' : null } }) }), t('model.candidates')),
      h('p', { class: 'muted' }, t('model.candidatesHelp'))));

    grid.append(activation(model, badge));

    // Monotonicity and settings.
    const violations = metrics.monotonicity_violations || [];
    grid.append(h('section', { class: 'card', 'aria-labelledby': 'checks-h' },
      h('h2', { id: 'checks-h' }, t('model.checks')),
      violations.length ? h('ul', { class: 'warning-list' }, violations.map((v) => h('li', {}, v))) : h('p', { class: 'ok-text' }, t('model.noViolations')),
      h('details', {}, h('summary', {}, t('model.params')),
        h('pre', { class: 'mono small' }, JSON.stringify(model.params, null, 2))),
      h('p', { class: 'muted' }, t('model.datasets'), ' ', model.dataset_ids.map((id) => h('code', { title: id }, id.slice(0, 8))).flatMap((c, i) => (i ? [', ', c] : [c])))));

    // Comparison.
    grid.append(comparison(model, list.models));
  },
};

function confusionTable(c) {
  const approved = c.approved_predicted_approved + c.approved_predicted_blocked;
  const blocked = c.blocked_predicted_approved + c.blocked_predicted_blocked;
  const total = approved + blocked;
  const cell = (name, rowTotal, kind) => h('td', { class: `num cell-${kind}`, dataset: { cell: name, count: c[name] } },
    h('span', { class: 'count' }, fmt.int(c[name])),
    h('span', { class: 'rate' }, fmt.pct(rowTotal ? c[name] / rowTotal : 0), h('span', { class: 'visually-hidden' }, ` ${t('model.ofRowShort')}`)));
  return h('table', { id: 'confusion', class: 'data confusion' },
    h('caption', {}, t('model.confusionCaption', { total: fmt.int(total) })),
    h('thead', {}, h('tr', {},
      h('td', {}),
      h('th', { scope: 'col' }, t('model.predictedApproved')),
      h('th', { scope: 'col' }, t('model.predictedBlocked')),
      h('th', { scope: 'col', class: 'num' }, t('model.total')))),
    h('tbody', {},
      h('tr', {},
        h('th', { scope: 'row' }, t('model.actualApproved')),
        cell('approved_predicted_approved', approved, 'good'),
        cell('approved_predicted_blocked', approved, 'bad'),
        h('td', { class: 'num' }, fmt.int(approved))),
      h('tr', {},
        h('th', { scope: 'row' }, t('model.actualBlocked')),
        cell('blocked_predicted_approved', blocked, 'bad'),
        cell('blocked_predicted_blocked', blocked, 'good'),
        h('td', { class: 'num' }, fmt.int(blocked)))),
    h('tfoot', {}, h('tr', {},
      h('th', { scope: 'row' }, t('model.total')),
      h('td', { class: 'num' }, fmt.int(c.approved_predicted_approved + c.blocked_predicted_approved), ' ', h('span', { class: 'rate' }, fmt.pct(total ? (c.approved_predicted_approved + c.blocked_predicted_approved) / total : 0))),
      h('td', { class: 'num' }, fmt.int(c.approved_predicted_blocked + c.blocked_predicted_blocked), ' ', h('span', { class: 'rate' }, fmt.pct(total ? (c.approved_predicted_blocked + c.blocked_predicted_blocked) / total : 0))),
      h('td', { class: 'num' }, fmt.int(total)))));
}

function later(body, draw) {
  requestAnimationFrame(() => { if (body.isConnected) draw(); });
}

function rocChart(curves, holdout) {
  const roc = curves?.roc || [];
  const caption = t('chart.rocCaption', { auc: fmt.num(holdout.roc_auc, 3) });
  const table = roc.length ? dataTable([
    { label: t('chart.fpr'), value: (p) => fmt.num(p[0], 3), num: true },
    { label: t('chart.tpr'), value: (p) => fmt.num(p[1], 3), num: true },
  ], roc) : null;
  const { figure, body } = chartFigure({ id: 'chart-roc', caption, table });
  if (!roc.length) {
    chartEmpty(body, t('chart.notRecorded'));
    return figure;
  }
  later(body, () => plot(body, {
    height: 260,
    scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
    axes: [axis(t('chart.fpr'), (u, s) => s.map((v) => fmt.num(v, 1))), axis(t('chart.tpr'), (u, s) => s.map((v) => fmt.num(v, 1)))],
    series: [
      { label: t('chart.fpr'), value: (u, v) => (v == null ? '' : fmt.num(v, 3)) },
      { label: t('chart.tpr'), stroke: COLORS.primary, width: 2, value: (u, v) => (v == null ? '' : fmt.num(v, 3)) },
      { label: t('chart.chance'), stroke: COLORS.muted, dash: [5, 5], width: 1, points: { show: false } },
    ],
  }, [roc.map((p) => p[0]), roc.map((p) => p[1]), roc.map((p) => p[0])]));
  return figure;
}

function scoresChart(curves, threshold) {
  const bins = curves?.score_distribution || [];
  const caption = t('chart.scoresCaption', { threshold: fmt.num(threshold, 3) });
  const table = bins.length ? dataTable([
    { label: t('chart.probability'), value: (b) => `${fmt.num(b.from, 2)}–${fmt.num(b.to, 2)}` },
    { label: t('chart.approved'), value: (b) => fmt.int(b.approved), num: true },
    { label: t('chart.blocked'), value: (b) => fmt.int(b.blocked), num: true },
  ], bins) : null;
  const { figure, body } = chartFigure({ id: 'chart-scores', caption, table });
  if (!bins.length) {
    chartEmpty(body, t('chart.notRecorded'));
    return figure;
  }
  later(body, () => plot(body, {
    height: 260,
    scales: { x: { time: false, range: [0, 1] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [axis(t('chart.probability'), (u, s) => s.map((v) => fmt.num(v, 1))), axis(t('chart.orders'), (u, s) => s.map((v) => fmt.int(v)))],
    series: [
      { label: t('chart.probability'), value: (u, v) => (v == null ? '' : fmt.num(v, 3)) },
      { label: t('chart.approved'), fill: 'rgba(23,114,69,0.75)', stroke: COLORS.approved, paths: bars(-1, 0.45), points: { show: false } },
      { label: t('chart.blocked'), fill: 'rgba(179,38,30,0.75)', stroke: COLORS.blocked, paths: bars(1, 0.45), points: { show: false } },
    ],
    hooks: { draw: [verticalMarker(threshold)] },
  }, [bins.map((b) => (b.from + b.to) / 2), bins.map((b) => b.approved), bins.map((b) => b.blocked)]));
  return figure;
}

function calibrationChart(curves) {
  const bins = (curves?.calibration || []).filter((b) => b.examples > 0);
  const caption = t('chart.calibrationCaption');
  const table = bins.length ? dataTable([
    { label: t('chart.meanProbability'), value: (b) => fmt.num(b.mean_probability, 3), num: true },
    { label: t('chart.blockedShare'), value: (b) => fmt.num(b.blocked_share, 3), num: true },
    { label: t('chart.examples'), value: (b) => fmt.int(b.examples), num: true },
  ], bins) : null;
  const { figure, body } = chartFigure({ id: 'chart-calibration', caption, table });
  if (!bins.length) {
    chartEmpty(body, t('chart.notRecorded'));
    return figure;
  }
  const sorted = [...bins].sort((a, b) => a.mean_probability - b.mean_probability);
  later(body, () => plot(body, {
    height: 260,
    scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
    axes: [axis(t('chart.meanProbability'), (u, s) => s.map((v) => fmt.num(v, 1))), axis(t('chart.blockedShare'), (u, s) => s.map((v) => fmt.num(v, 1)))],
    series: [
      { label: t('chart.meanProbability'), value: (u, v) => (v == null ? '' : fmt.num(v, 3)) },
      { label: t('chart.blockedShare'), stroke: COLORS.blocked, width: 2, points: { show: true, size: 7, fill: COLORS.blocked }, value: (u, v) => (v == null ? '' : fmt.num(v, 3)) },
      { label: t('chart.perfect'), stroke: COLORS.muted, dash: [5, 5], width: 1, points: { show: false } },
    ],
  }, [sorted.map((b) => b.mean_probability), sorted.map((b) => b.blocked_share), sorted.map((b) => b.mean_probability)]));
  return figure;
}

function importanceChart(importance) {
  const rows = importance.slice(0, 15).map(([feature, share]) => ({ label: h('code', {}, feature), value: share, text: fmt.pct(share) }));
  const table = importance.length ? dataTable([
    { label: t('chart.feature'), value: (p) => p[0] },
    { label: t('chart.share'), value: (p) => fmt.pct(p[1]), num: true },
  ], importance) : null;
  const { figure, body } = chartFigure({ id: 'chart-importance', caption: t('chart.importanceCaption', { count: Math.min(15, importance.length) }), table });
  if (!importance.length) chartEmpty(body, t('chart.notRecorded'));
  else replace(body, hbars(rows));
  return figure;
}

function activation(model, badge) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'activate-h' },
    h('h2', { id: 'activate-h' }, t('model.activation')));
  const note = h('p', { id: 'activate-note' }, model.active ? t('model.isActive') : t('model.isCandidate'));
  const button = h('button', { type: 'button', id: 'activate', class: 'button' }, model.active ? t('model.activateAgain') : t('model.activate', { version: model.version }));
  const result = h('div', { id: 'activate-result', role: 'status', 'aria-live': 'polite' });
  const yes = h('button', { type: 'button', id: 'confirm-yes', class: 'button' }, t('model.confirmYes'));
  const no = h('button', { type: 'button', id: 'confirm-no', class: 'button secondary' }, t('common.cancel'));
  const dialog = h('dialog', { id: 'confirm-activate', 'aria-labelledby': 'confirm-activate-h', 'aria-describedby': 'confirm-activate-text' },
    h('h2', { id: 'confirm-activate-h' }, t('model.confirmTitle', { version: model.version })),
    h('p', { id: 'confirm-activate-text' }, t('model.confirmText', { version: model.version })),
    h('div', { class: 'actions' }, yes, no));
  button.addEventListener('click', () => { dialog.showModal(); no.focus(); });
  no.addEventListener('click', () => dialog.close('cancel'));
  dialog.addEventListener('close', () => button.focus());
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      const answer = await request(`/v1/models/${enc(model.version)}/activate`, { method: 'POST' });
      dialog.close('yes');
      model.active = true;
      badge.textContent = t('model.active');
      badge.className = 'badge status-trained';
      note.textContent = t('model.isActive');
      button.textContent = t('model.activateAgain');
      replace(result, h('p', { class: 'notice success', dataset: { activated: 'true' } }, t('model.activated', { version: model.version, when: fmt.dateTime(answer.activated_at) })));
      announce(t('model.activated', { version: model.version, when: fmt.dateTime(answer.activated_at) }));
    } catch (e) {
      dialog.close('error');
      replace(result, h('p', { class: 'notice error', role: 'alert' }, e.message));
    } finally {
      yes.disabled = false;
    }
  });
  section.append(note, h('div', { class: 'actions' }, button), result, dialog);
  return section;
}

function comparison(model, models) {
  const others = models.filter((m) => m.version !== model.version);
  const select = h('select', { id: 'compare-with', disabled: !others.length },
    h('option', { value: '' }, others.length ? t('compare.choose') : t('compare.noOther')),
    others.map((m) => h('option', { value: m.version }, `v${m.version} — ${t(`learner.${m.learner}`, {}, m.learner)}${m.active ? ` (${t('model.active')})` : ''}`)));
  const out = h('div', { id: 'comparison', 'aria-live': 'polite' });
  select.addEventListener('change', async () => {
    const other = Number(select.value);
    delete out.dataset.ready;
    if (!other) { replace(out); return; }
    replace(out, h('p', { class: 'loading' }, t('compare.loading')));
    const versions = [model.version, other].sort((a, b) => a - b);
    try {
      const result = await request(`/v1/models/compare?versions=${versions.join(',')}`);
      if (Number(select.value) !== other) return;
      replace(out, comparisonTable(result, model.version));
      out.dataset.ready = 'true';
    } catch (e) {
      replace(out, h('p', { class: 'notice warning', role: 'alert' }, e.message));
      out.dataset.ready = 'true';
    }
  });
  return h('section', { class: 'card wide', 'aria-labelledby': 'compare-h' },
    h('h2', { id: 'compare-h' }, t('compare.title')),
    h('p', { class: 'muted' }, t('compare.help')),
    h('div', { class: 'inline-field' }, field(t('compare.with'), select)),
    out);
}

function comparisonTable(result, current) {
  const vs = result.versions;
  const rows = [
    ...METRICS.map((name) => ({ label: t(`metric.${name}`), cells: vs.map((v) => metricText(name, v.evaluation[name])), values: vs.map((v) => v.evaluation[name]), better: name === 'brier' ? 'low' : 'high' })),
    { label: t('model.approvalRate'), cells: vs.map((v) => fmt.pct(approvalRate(v.evaluation.confusion, v.evaluation.examples))) },
    ...CELLS.map((cell) => ({ label: t(`cell.${cell}`), cells: vs.map((v) => fmt.int(v.evaluation.confusion[cell])) })),
    { label: t('compare.trainedOn'), cells: vs.map((v) => fmt.int(v.trained_on)) },
  ];
  const best = (row) => {
    if (!row.values) return -1;
    const pick = row.better === 'low' ? Math.min(...row.values) : Math.max(...row.values);
    return row.values.filter((x) => x === pick).length === 1 ? row.values.indexOf(pick) : -1;
  };
  return h('div', {},
    h('p', {}, t('compare.caption', {
      examples: fmt.int(result.examples), approved: fmt.int(result.approved), blocked: fmt.int(result.blocked), excluded: fmt.int(result.excluded),
    })),
    scroller(h('table', { class: 'data compare' },
      h('caption', { class: 'visually-hidden' }, t('compare.title')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('compare.metric')),
        vs.map((v) => h('th', { scope: 'col', class: 'num', dataset: { version: v.version } },
          `v${v.version}${v.version === current ? ` (${t('compare.this')})` : ''}`, h('br'), h('span', { class: 'muted small' }, t(`learner.${v.learner}`, {}, v.learner)))))),
      h('tbody', {}, rows.map((row) => {
        const winner = best(row);
        return h('tr', {}, h('th', { scope: 'row' }, row.label),
          row.cells.map((c, i) => h('td', { class: `num${i === winner ? ' best' : ''}` }, c, i === winner ? h('span', { class: 'visually-hidden' }, ` (${t('compare.best')})`) : '')));
      }))), t('compare.title')));
}

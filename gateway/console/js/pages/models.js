// Models: every version with its headline holdout metrics, and the training runs.

import { request } from '../api.js';
import { h, dataTable, scroller, replace } from '../dom.js';
import { t, fmt, statusLabel } from '../i18n.js';

export default {
  name: 'models',
  async render(ctx) {
    const { main } = ctx;
    main.append(h('h1', {}, t('models.title')));
    const [list, runs] = await Promise.all([request('/v1/models'), request('/v1/models/runs?limit=20')]);
    if (!ctx.current()) return;
    const versions = h('section', { class: 'card wide', 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, t('models.versions')));
    if (list.models.length) {
      versions.append(scroller(dataTable([
        { label: t('model.version'), value: (m) => h('a', { href: `#/models/${m.version}` }, `v${m.version}`) },
        { label: t('model.learner'), value: (m) => t(`learner.${m.learner}`, {}, m.learner) },
        { label: t('model.created'), value: (m) => fmt.dateTime(m.created_at) },
        { label: t('metric.roc_auc'), value: (m) => fmt.num(m.holdout.roc_auc, 3), num: true },
        { label: t('metric.ks'), value: (m) => fmt.num(m.holdout.ks, 3), num: true },
        { label: t('metric.accuracy'), value: (m) => fmt.pct(m.holdout.accuracy), num: true },
        { label: t('model.threshold'), value: (m) => fmt.num(m.threshold, 3), num: true },
        { label: t('model.holdoutExamples'), value: (m) => fmt.int(m.holdout.examples), num: true },
        { label: t('model.state'), value: (m) => (m.active ? h('span', { class: 'badge status-trained' }, t('model.active')) : h('span', { class: 'badge' }, t('model.candidate'))) },
      ], list.models, {
        id: 'models-table',
        rowAttrs: (m) => ({ dataset: { version: m.version, active: m.active ? 'true' : null } }),
      }), t('models.versions')));
    } else {
      versions.append(h('p', {}, t('models.none'), ' ', h('a', { href: '#/datasets' }, t('overview.uploadFirst'))));
    }
    const runsSection = h('section', { class: 'card wide', 'aria-labelledby': 'runs-h' });
    drawRuns(runsSection, runs.runs);
    main.append(versions, runsSection);
    // While a training runs, follow it.
    const follow = async (list) => {
      if (!list.some((r) => r.status === 'queued' || r.status === 'running')) return;
      await new Promise((resolve) => { setTimeout(resolve, 3000); });
      if (!ctx.current()) return;
      try {
        const next = await request('/v1/models/runs?limit=20');
        if (!ctx.current()) return;
        drawRuns(runsSection, next.runs);
        const before = new Map(list.map((r) => [r.request_id, r.status]));
        if (next.runs.some((r) => r.status === 'finished' && before.get(r.request_id) !== 'finished')) ctx.reroute({ focus: false });
        else follow(next.runs);
      } catch { /* the next visit shows it */ }
    };
    follow(runs.runs);
  },
};

function drawRuns(section, runs) {
  replace(section, h('h2', { id: 'runs-h' }, t('models.runs')));
  if (!runs.length) {
    section.append(h('p', {}, t('models.noRuns')));
    return;
  }
  section.append(scroller(dataTable([
    { label: t('run.queued'), value: (r) => fmt.dateTime(r.queued_at) },
    { label: t('run.status'), value: (r) => h('span', { class: `badge run-${r.status}` }, statusLabel(r.status)) },
    { label: t('run.progress'), value: (r) => progressCell(r) },
    { label: t('run.datasets'), value: (r) => r.dataset_ids.map((id) => id.slice(0, 8)).join(', ') },
    { label: t('run.result'), value: (r) => resultCell(r) },
  ], runs, { id: 'runs-table', rowAttrs: (r) => ({ dataset: { requestId: r.request_id, status: r.status } }) }), t('models.runs')));
}

function progressCell(run) {
  if (run.status === 'finished' && run.started_at && run.finished_at) {
    return t('run.took', { seconds: fmt.num((Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000, 1) });
  }
  if (!run.progress) return '—';
  const label = `${t(`stage.${run.progress.stage}`, {}, run.progress.stage)} ${fmt.pct(run.progress.fraction, 0)}`;
  if (run.status !== 'running') return label;
  return h('span', { class: 'run-progress' }, h('progress', { max: 1, value: run.progress.fraction, 'aria-label': label }), ' ', label);
}

function resultCell(run) {
  if (run.status === 'failed') return h('span', { class: 'error-text' }, run.reason || statusLabel('failed'));
  if (run.model_version) {
    return h('span', {}, h('a', { href: `#/models/${run.model_version}` }, `v${run.model_version}`),
      run.outcome ? ` (${t(`outcome.${run.outcome}`, {}, run.outcome)})` : '');
  }
  return '—';
}

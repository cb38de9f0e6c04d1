// Datasets: the list (status, counts, rejection reasons) and the upload from the browser:
// four files, read by the CLI uploader's rules (csv.js), sent in batches of 500 per kind with an
// Idempotency-Key each, then the completion marker, then the verdict polled.

import { request, query, enc, ApiError } from '../api.js';
import { h, field, dataTable, scroller, replace, announce } from '../dom.js';
import { t, fmt, statusLabel } from '../i18n.js';
import { readItems, LocalErrors, locate, BATCH_SIZE } from '../csv.js';

// Upload order, as the CLI: customers, credit limits, bureau reports, orders.
const KINDS = [
  { kind: 'customers', input: 'upload-customers', path: 'customers' },
  { kind: 'credit_limits', input: 'upload-credit-limits', path: 'credit-limits' },
  { kind: 'bureau_reports', input: 'upload-bureau-reports', path: 'bureau-reports' },
  { kind: 'orders', input: 'upload-orders', path: 'orders' },
];
const POLL_MS = 1500;

export function datasetCounts(counts) {
  if (!counts) return '—';
  return KINDS.map(({ kind }) => `${t(`kind.${kind}`)} ${fmt.int(counts[kind] ?? 0)}`).join(' · ');
}

export default {
  name: 'datasets',
  async render(ctx) {
    const { main } = ctx;
    const listSection = h('section', { class: 'card wide', 'aria-labelledby': 'datasets-h' });
    main.append(
      h('h1', {}, t('datasets.title')),
      uploadForm(ctx, () => loadList(ctx, listSection, {})),
      listSection);
    await loadList(ctx, listSection, {});
  },
};

async function loadList(ctx, section, { status = '' }) {
  ctx.ready(false);
  const filter = h('select', { id: 'datasets-status' },
    h('option', { value: '' }, t('datasets.anyStatus')),
    ['receiving', 'validating', 'ready', 'rejected', 'training', 'trained', 'failed']
      .map((s) => h('option', { value: s, selected: s === status }, statusLabel(s))));
  filter.addEventListener('change', () => loadList(ctx, section, { status: filter.value }));
  const body = h('div', { class: 'datasets-list', 'aria-live': 'polite' }, h('p', { class: 'loading' }, t('common.loading')));
  replace(section,
    h('div', { class: 'section-head' }, h('h2', { id: 'datasets-h' }, t('datasets.list')),
      h('div', { class: 'inline-field' }, field(t('datasets.filterStatus'), filter))),
    body);
  let page;
  try {
    page = await request(`/v1/datasets${query({ limit: 20, status })}`);
  } catch (e) {
    replace(body, h('p', { class: 'error-text', role: 'alert' }, e.message));
    ctx.ready(true);
    return;
  }
  if (!ctx.current()) return;
  const rows = [...page.datasets];
  const table = () => dataTable([
    { label: t('dataset.id'), value: (d) => h('code', { title: d.dataset_id }, d.dataset_id.slice(0, 8)) },
    { label: t('dataset.created'), value: (d) => fmt.dateTime(d.created_at) },
    { label: t('dataset.status'), value: (d) => h('span', { class: `badge status-${d.status}` }, statusLabel(d.status)) },
    { label: t('dataset.stored'), value: (d) => countsCell(d) },
    { label: t('dataset.rejectedBatches'), value: (d) => fmt.int(d.rejected_batches), num: true },
    { label: t('dataset.reasons'), value: (d) => reasonsCell(d) },
    { label: t('dataset.model'), value: (d) => (d.model_version ? h('a', { href: `#/models/${d.model_version}` }, `v${d.model_version}`) : trainingCell(d)) },
  ], rows, { id: 'datasets-table', rowAttrs: (d) => ({ dataset: { datasetId: d.dataset_id, status: d.status } }) });
  const holder = h('div', {}, rows.length ? scroller(table(), t('datasets.list')) : h('p', {}, t('datasets.none')));
  let cursor = page.next_cursor;
  const more = h('button', { type: 'button', class: 'button secondary', id: 'datasets-more', hidden: !cursor }, t('common.older'));
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const next = await request(`/v1/datasets${query({ limit: 20, status, cursor })}`);
      rows.push(...next.datasets);
      cursor = next.next_cursor;
      replace(holder, scroller(table(), t('datasets.list')));
      more.hidden = !cursor;
    } catch (e) {
      announce(e.message);
    } finally {
      more.disabled = false;
    }
  });
  replace(body, holder, h('div', { class: 'actions' }, more));
  ctx.ready(true);
}

function countsCell(d) {
  const stored = d.counts?.stored || {};
  const announced = d.announced;
  return h('ul', { class: 'counts' }, KINDS.map(({ kind }) => {
    const mismatch = announced && announced[kind] !== stored[kind];
    return h('li', { class: mismatch ? 'mismatch' : null },
      `${t(`kind.${kind}`)}: ${fmt.int(stored[kind] ?? 0)}`,
      announced ? ` / ${fmt.int(announced[kind])}` : '');
  }));
}

function reasonsCell(d) {
  const reasons = [...(d.rejection_reasons || [])];
  if (d.failure_reason) reasons.push(d.failure_reason);
  return reasons.length ? h('ul', { class: 'reasons-list' }, reasons.map((r) => h('li', {}, r))) : '—';
}

function trainingCell(d) {
  const run = d.training_runs?.[0];
  if (!run) return '—';
  if (run.status === 'running' && run.progress) return `${statusLabel('training')} ${fmt.pct(run.progress.fraction, 0)}`;
  return statusLabel(run.status);
}

function uploadForm(ctx, refreshList) {
  const inputs = KINDS.map(({ kind, input }) => h('input', {
    type: 'file', id: input, name: kind, accept: '.csv,.jsonl,.ndjson,.json,.txt,text/csv,application/jsonl,application/x-ndjson',
  }));
  const submit = h('button', { type: 'submit', id: 'upload-submit', class: 'button' }, t('upload.submit'));
  const progress = h('progress', { id: 'upload-progress', max: 1, value: 0, 'aria-labelledby': 'upload-progress-label' });
  const progressLabel = h('span', { id: 'upload-progress-label' }, t('upload.progressIdle'));
  const status = h('div', { id: 'upload-status', role: 'status', 'aria-live': 'polite', class: 'upload-status' });
  const refused = h('div', { id: 'upload-refused-wrap' });
  const form = h('form', { id: 'upload-form', class: 'card wide', 'aria-labelledby': 'upload-h', novalidate: true },
    h('h2', { id: 'upload-h' }, t('upload.title')),
    h('p', { class: 'muted' }, t('upload.help')),
    h('div', { class: 'upload-grid' }, KINDS.map(({ kind }, i) => field(t(`kind.${kind}`), inputs[i], t('upload.fileHint')))),
    h('div', { class: 'actions' }, submit),
    h('div', { class: 'progress-row' }, progressLabel, progress),
    status,
    refused);

  const setState = (state, message, extra = {}) => {
    status.dataset.state = state;
    for (const key of ['datasetId', 'datasetStatus']) delete status.dataset[key];
    Object.assign(status.dataset, extra);
    status.className = `upload-status state-${state}`;
    replace(status, message);
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(refused);
    progress.value = 0;
    const chosen = KINDS.map((k, i) => ({ ...k, file: inputs[i].files[0] })).filter((k) => k.file);
    if (!chosen.length) {
      setState('failed', t('upload.noFiles'));
      inputs[0].focus();
      return;
    }
    submit.disabled = true;
    try {
      await upload(chosen, { progress, progressLabel, setState, refused, ctx });
    } finally {
      submit.disabled = false;
      refreshList();
    }
  });
  return form;
}

async function upload(chosen, { progress, progressLabel, setState, refused, ctx }) {
  // Read every file first: nothing is sent while a file has unreadable lines.
  setState('uploading', t('upload.reading'));
  const sources = [];
  const localProblems = [];
  for (const k of chosen) {
    try {
      const text = await k.file.text();
      const read = readItems(k.file.name, text);
      sources.push({ ...k, ...read, fileName: k.file.name });
    } catch (e) {
      const errors = e instanceof LocalErrors ? e.errors : [{ line: null, reason: e.message }];
      for (const err of errors) localProblems.push({ file: k.file.name, line: err.line, field: '', reason: err.reason });
    }
  }
  if (localProblems.length) {
    showRefused(refused, localProblems, localProblems.length);
    setState('failed', t('upload.unreadable'));
    return;
  }
  const total = sources.reduce((n, s) => n + s.items.length, 0);
  progress.max = Math.max(1, total);
  progress.value = 0;
  const counts = { customers: 0, credit_limits: 0, bureau_reports: 0, orders: 0 };
  for (const s of sources) counts[s.kind] = s.items.length;

  const dataset = await call(() => request('/v1/datasets', { method: 'POST' }), setState);
  if (!dataset) return;
  const id = dataset.dataset_id;
  setState('uploading', t('upload.sending', { sent: fmt.int(0), total: fmt.int(total) }), { datasetId: id });

  let sent = 0;
  const problems = [];
  let problemCount = 0;
  for (const source of sources) {
    const batches = Math.ceil(source.items.length / BATCH_SIZE);
    for (let batch = 0; batch < batches; batch += 1) {
      const items = source.items.slice(batch * BATCH_SIZE, (batch + 1) * BATCH_SIZE);
      const key = `${source.kind}-${String(batch).padStart(6, '0')}`;
      const body = `{"items":[${items.join(',')}]}`;
      try {
        await withRetry(() => request(`/v1/datasets/${enc(id)}/${source.path}`, { method: 'POST', body, headers: { 'Idempotency-Key': key } }));
      } catch (e) {
        if (e instanceof ApiError && (e.status === 422 || e.status === 400 || e.status === 413)) {
          const first = source.lines[batch * BATCH_SIZE];
          const last = source.lines[batch * BATCH_SIZE + items.length - 1];
          if (e.errors.length) {
            for (const err of e.errors) {
              const { line, field: path } = locate(source, batch, err.field);
              problems.push({ file: source.fileName, line: line ?? `${first}–${last}`, field: path || err.field, reason: err.reason });
            }
            problemCount += Math.max(e.errorCount, e.errors.length);
          } else {
            problems.push({ file: source.fileName, line: `${first}–${last}`, field: '', reason: e.message });
            problemCount += 1;
          }
        } else {
          setState('failed', h('span', {}, t('upload.stopped', { kind: t(`kind.${source.kind}`), batch: batch + 1 }), ' ', e.message || ''), { datasetId: id });
          return;
        }
      }
      sent += items.length;
      progress.value = sent;
      progressLabel.textContent = t('upload.progress', { sent: fmt.int(sent), total: fmt.int(total) });
      setState('uploading', t('upload.sending', { sent: fmt.int(sent), total: fmt.int(total) }), { datasetId: id });
    }
  }
  if (problems.length) {
    showRefused(refused, problems, problemCount);
    setState('failed', t('upload.refused', { count: fmt.int(problemCount), id: id.slice(0, 8) }), { datasetId: id });
    announce(t('upload.refused', { count: fmt.int(problemCount), id: id.slice(0, 8) }));
    return;
  }

  setState('completing', t('upload.completing'), { datasetId: id });
  try {
    await withRetry(() => request(`/v1/datasets/${enc(id)}/complete`, { method: 'POST', body: { counts } }));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409)) {
      setState('failed', `${t('upload.completeFailed')} ${e.message}`, { datasetId: id });
      return;
    }
  }

  // Wait for the verdict: `done` once the dataset is trained on (a model made from it),
  // `failed` when it is rejected or its training fails.
  let announced = false;
  for (;;) {
    let d;
    try {
      d = await request(`/v1/datasets/${enc(id)}`);
    } catch (e) {
      if (e.status === 401) return;
      await sleep(POLL_MS * 2);
      continue;
    }
    const extra = { datasetId: id, datasetStatus: d.status };
    if (d.status === 'rejected') {
      setState('failed', h('span', {}, t('upload.rejected'), h('ul', {}, d.rejection_reasons.map((r) => h('li', {}, r)))), extra);
      announce(t('upload.rejected'));
      return;
    }
    if (d.status === 'failed') {
      setState('failed', `${t('upload.trainingFailed')} ${d.failure_reason || ''}`, extra);
      announce(t('upload.trainingFailed'));
      return;
    }
    if (d.status === 'trained') {
      setState('done', h('span', {}, t('upload.trained'), ' ', h('a', { href: `#/models/${d.model_version}`, id: 'upload-model-link' }, t('upload.seeModel', { version: d.model_version }))), { ...extra, modelVersion: d.model_version });
      announce(t('upload.trained'));
      return;
    }
    if (d.status === 'ready' || d.status === 'training') {
      const run = d.training_runs?.[0];
      const stage = run?.progress ? ` (${t(`stage.${run.progress.stage}`, {}, run.progress.stage)}, ${fmt.pct(run.progress.fraction, 0)})` : '';
      setState('waiting', `${t('upload.accepted')} ${t('upload.training')}${stage}`, extra);
      if (!announced) { announce(t('upload.accepted')); announced = true; }
    } else {
      setState('waiting', t('upload.waiting', { status: statusLabel(d.status) }), extra);
    }
    if (!document.getElementById('upload-status')) return; // left the page
    await sleep(POLL_MS);
  }
}

async function call(fn, setState) {
  try {
    return await withRetry(fn);
  } catch (e) {
    setState('failed', e.message);
    return null;
  }
}

/** Retries 429, 503 and network failures (safe: every batch has its Idempotency-Key). */
async function withRetry(fn, attempts = 6) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (e) {
      const transient = e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status === 503 || e.status === 502 || e.status === 504);
      if (!transient || attempt >= attempts) throw e;
      const after = Number(e.retryAfter);
      await sleep(Number.isFinite(after) && after > 0 ? after * 1000 : 300 * 2 ** attempt);
    }
  }
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function showRefused(holder, problems, count) {
  const shown = problems.slice(0, 500);
  replace(holder,
    h('h3', {}, t('upload.refusedRows')),
    count > shown.length ? h('p', { class: 'muted' }, t('upload.moreRefused', { shown: fmt.int(shown.length), count: fmt.int(count) })) : null,
    scroller(dataTable([
      { label: t('upload.file'), value: (p) => p.file },
      { label: t('upload.line'), value: (p) => (p.line === null ? '—' : String(p.line)), num: true },
      { label: t('upload.field'), value: (p) => (p.field ? h('code', {}, p.field) : '—') },
      { label: t('upload.reason'), value: (p) => p.reason },
    ], shown, { id: 'upload-refused', rowAttrs: (p) => ({ dataset: { line: p.line ?? '', file: p.file } }) }), t('upload.refusedRows')));
}

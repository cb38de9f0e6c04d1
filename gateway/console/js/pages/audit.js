// Audit log: events with the API's filters, paging by next_before, and the chain's verification.

import { request, query } from '../api.js';
import { h, field, dataTable, scroller, replace, announce } from '../dom.js';
import { t, fmt } from '../i18n.js';
import { toInstant } from './decisions.js';

const FAMILIES = ['company.*', 'dataset.*', 'batch.*', 'training.*', 'model.*', 'decision.*', 'token.*', 'record.*', 'outcomes.*', 'drift.*', 'policy.*', 'experiment.*'];
const KINDS = [
  'company.registered', 'dataset.created', 'batch.accepted', 'batch.rejected', 'dataset.ready', 'dataset.rejected',
  'training.started', 'training.finished', 'training.failed', 'model.activated', 'model.kept_as_candidate',
  'record.dead_lettered', 'token.issued', 'token.revoked', 'decision.approved', 'decision.rejected',
  'decision.referred', 'decision.repeated', 'decision.refused', 'outcomes.reported', 'outcomes.definition_changed',
  'drift.detected', 'policy.changed', 'decision.review_requested', 'experiment.changed',
];

export default {
  name: 'audit',
  async render(ctx) {
    const { main } = ctx;
    const q = ctx.query;
    const input = (id, key, attrs = {}) => h('input', { id, name: key, value: q.get(key) || '', autocomplete: 'off', spellcheck: 'false', ...attrs });
    const f = {
      kind: h('select', { id: 'audit-filter-kind', name: 'kind' },
        h('option', { value: '' }, t('filter.any')),
        h('optgroup', { label: t('audit.families') }, FAMILIES.map((k) => h('option', { value: k, selected: q.get('kind') === k }, k))),
        h('optgroup', { label: t('audit.kinds') }, KINDS.map((k) => h('option', { value: k, selected: q.get('kind') === k }, k)))),
      from: input('audit-filter-from', 'from'),
      to: input('audit-filter-to', 'to'),
      dataset_id: input('audit-filter-dataset-id', 'dataset_id', { maxlength: 36 }),
      model_version: input('audit-filter-model-version', 'model_version', { type: 'number', min: 1, step: 1 }),
      request_id: input('audit-filter-request-id', 'request_id', { maxlength: 100 }),
    };
    f.from.placeholder = t('common.dateTimePlaceholder');
    f.to.placeholder = t('common.dateTimePlaceholder');
    const error = h('p', { id: 'audit-filter-error', class: 'error-text', role: 'alert' });
    const apply = h('button', { type: 'submit', id: 'audit-filter-apply', class: 'button' }, t('filter.apply'));
    const reset = h('button', { type: 'button', id: 'audit-filter-reset', class: 'button secondary' }, t('filter.reset'));
    const form = h('form', { id: 'audit-filters', class: 'card wide filters', role: 'search', 'aria-label': t('filter.title'), novalidate: true },
      h('div', { class: 'form-grid' },
        field(t('audit.kind'), f.kind), field(t('filter.from'), f.from, t('filter.dateHint')), field(t('filter.to'), f.to, t('filter.toHint')),
        field(t('audit.datasetId'), f.dataset_id), field(t('filter.modelVersion'), f.model_version), field(t('audit.requestId'), f.request_id)),
      error,
      h('div', { class: 'actions' }, apply, reset));

    const verifyBox = h('section', { class: 'card wide', 'aria-labelledby': 'verify-h' });
    const results = h('section', { class: 'card wide', 'aria-labelledby': 'audit-results-h' });
    main.append(h('h1', {}, t('audit.title')), verifyBox, form, results);

    const params = () => ({
      kind: f.kind.value, from: toInstant(f.from.value), to: toInstant(f.to.value),
      dataset_id: f.dataset_id.value.trim(), model_version: f.model_version.value.trim(), request_id: f.request_id.value.trim(),
    });

    const verify = async () => {
      const again = h('button', { type: 'button', id: 'audit-verify-again', class: 'button secondary' }, t('audit.verifyAgain'));
      again.addEventListener('click', () => verify().then(() => document.getElementById('audit-verify-again')?.focus()));
      replace(verifyBox, h('h2', { id: 'verify-h' }, t('audit.verify')), h('p', { class: 'loading' }, t('audit.verifying')));
      let v;
      try {
        v = await request('/v1/audit/verify');
      } catch (e) {
        replace(verifyBox, h('h2', { id: 'verify-h' }, t('audit.verify')), h('p', { class: 'error-text', role: 'alert' }, e.message), again);
        return;
      }
      replace(verifyBox,
        h('h2', { id: 'verify-h' }, t('audit.verify')),
        h('div', { id: 'audit-verify', class: `verify ${v.verified ? 'ok' : 'broken'}`, dataset: { valid: v.verified ? 'true' : 'false', headSeq: v.head_seq } },
          h('p', { class: 'verify-verdict' }, h('span', { 'aria-hidden': 'true' }, v.verified ? '✔ ' : '✖ '),
            v.verified ? t('audit.verified', { events: fmt.int(v.events) }) : t('audit.broken', { seq: v.first_broken_seq ?? '—' })),
          v.problem ? h('p', {}, v.problem) : null,
          h('dl', { class: 'stats' },
            h('div', { class: 'stat' }, h('dt', {}, t('audit.events')), h('dd', {}, fmt.int(v.events))),
            h('div', { class: 'stat' }, h('dt', {}, t('audit.headSeq')), h('dd', {}, String(v.head_seq))),
            h('div', { class: 'stat wide-stat' }, h('dt', {}, t('audit.head')), h('dd', {}, h('code', { class: 'hash' }, v.head))))),
        h('p', { class: 'muted' }, t('audit.verifyHelp')),
        again);
    };

    const load = async () => {
      let filters;
      try { filters = params(); error.textContent = ''; } catch (e) { error.textContent = e.message; return; }
      ctx.ready(false);
      for (const el of Object.values(f)) el.removeAttribute('aria-invalid');
      history.replaceState(null, '', `#/audit${query(filters)}`);
      replace(results, h('p', { class: 'loading' }, t('common.loading')));
      let page;
      try {
        page = await request(`/v1/audit${query({ ...filters, limit: 50 })}`);
      } catch (e) {
        if (!ctx.current()) return;
        for (const x of e.errors || []) f[x.field]?.setAttribute('aria-invalid', 'true');
        replace(results, h('p', { class: 'error-text', role: 'alert' }, e.message),
          e.errors?.length ? h('ul', {}, e.errors.map((x) => h('li', {}, `${x.field}: ${x.reason}`))) : null);
        ctx.ready(true);
        return;
      }
      if (!ctx.current()) return;
      const rows = [...page.events];
      let before = page.next_before;
      const holder = h('div', {});
      const draw = () => replace(holder, rows.length ? scroller(table(rows), t('audit.title')) : h('p', {}, t('audit.none')));
      const more = h('button', { type: 'button', id: 'audit-more', class: 'button secondary', hidden: !before }, t('common.older'));
      more.addEventListener('click', async () => {
        more.disabled = true;
        ctx.ready(false);
        try {
          const next = await request(`/v1/audit${query({ ...filters, limit: 50, before })}`);
          rows.push(...next.events);
          before = next.next_before;
          draw();
          more.hidden = !before;
          announce(t('audit.shown', { count: fmt.int(rows.length) }));
        } catch (e) {
          announce(e.message);
        } finally {
          more.disabled = false;
          ctx.ready(true);
        }
      });
      draw();
      replace(results, h('h2', { id: 'audit-results-h' }, t('audit.results')), holder, h('div', { class: 'actions' }, more));
      ctx.ready(true);
    };

    form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
    reset.addEventListener('click', () => { for (const el of Object.values(f)) el.value = ''; load(); });
    await Promise.all([verify(), load()]);
  },
};

function detailsCell(event) {
  const entries = Object.entries(event.details || {});
  if (!entries.length) return '—';
  return h('dl', { class: 'kv' }, entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, linkFor(event.kind, k, v))]));
}

function linkFor(kind, key, value) {
  if (key === 'request_id' && value && /^decision\.(approved|rejected|referred|repeated)$/.test(kind)) return h('a', { href: `#/decisions/${encodeURIComponent(value)}` }, value);
  if (key === 'model_version' && /^\d+$/.test(value)) return h('a', { href: `#/models/${value}` }, `v${value}`);
  return value;
}

function table(rows) {
  return dataTable([
    { label: t('audit.seq'), value: (e) => String(e.seq), num: true },
    { label: t('audit.occurredAt'), value: (e) => fmt.dateTime(e.occurred_at) },
    { label: t('audit.kind'), value: (e) => h('code', { class: `kind kind-${e.kind.split('.')[0]}` }, e.kind) },
    { label: t('audit.actor'), value: (e) => e.actor },
    { label: t('audit.details'), value: (e) => detailsCell(e) },
    { label: t('audit.hash'), value: (e) => h('code', { class: 'hash', title: e.hash }, `${e.hash.slice(0, 12)}…`) },
  ], rows, { id: 'audit-table', rowAttrs: (e) => ({ dataset: { kind: e.kind, eventId: e.event_id, seq: e.seq } }) });
}

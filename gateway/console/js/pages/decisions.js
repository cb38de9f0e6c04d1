// Decisions: the recorded decisions with the API's filters, paging by next_cursor, export.

import { request, query } from '../api.js';
import { h, field, dataTable, scroller, replace, announce, download } from '../dom.js';
import { t, fmt } from '../i18n.js';

/** A filter's date/time text as RFC 3339: a bare date is local midnight; a time without offset is local. */
export function toInstant(text) {
  const v = text.trim();
  if (!v) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const [y, m, d] = v.split('-').map(Number);
    return new Date(y, m - 1, d).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)) {
    const date = new Date(v.replace(' ', 'T'));
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) return v;
  throw new Error(t('filter.badDate', { value: v }));
}

function syncHash(path, params) {
  const q = query(params);
  history.replaceState(null, '', `#${path}${q}`);
}

export default {
  name: 'decisions',
  async render(ctx) {
    const { main } = ctx;
    const q = ctx.query;
    const input = (id, key, attrs = {}) => h('input', { id, name: key, value: q.get(key) || '', autocomplete: 'off', ...attrs });
    const f = {
      order_id: input('filter-order-id', 'order_id', { maxlength: 100 }),
      customer_id: input('filter-customer-id', 'customer_id', { maxlength: 100 }),
      decision: h('select', { id: 'filter-decision', name: 'decision' },
        h('option', { value: '' }, t('filter.any')),
        ['approved', 'rejected', 'review'].map((d) => h('option', { value: d, selected: q.get('decision') === d }, t(`decision.${d}`)))),
      model_version: input('filter-model-version', 'model_version', { type: 'number', min: 1, step: 1, inputmode: 'numeric' }),
      from: input('filter-from', 'from', { spellcheck: 'false' }),
      to: input('filter-to', 'to', { spellcheck: 'false' }),
    };
    f.from.placeholder = t('common.dateTimePlaceholder');
    f.to.placeholder = t('common.dateTimePlaceholder');
    const error = h('p', { id: 'filter-error', class: 'error-text', role: 'alert' });
    const apply = h('button', { type: 'submit', id: 'filter-apply', class: 'button' }, t('filter.apply'));
    const reset = h('button', { type: 'button', id: 'filter-reset', class: 'button secondary' }, t('filter.reset'));
    const form = h('form', { id: 'decisions-filters', class: 'card wide filters', role: 'search', 'aria-label': t('filter.title'), novalidate: true },
      h('div', { class: 'form-grid' },
        field(t('filter.orderId'), f.order_id), field(t('filter.customerId'), f.customer_id),
        field(t('filter.decision'), f.decision), field(t('filter.modelVersion'), f.model_version),
        field(t('filter.from'), f.from, t('filter.dateHint')), field(t('filter.to'), f.to, t('filter.toHint'))),
      error,
      h('div', { class: 'actions' }, apply, reset));
    const exportCsv = h('button', { type: 'button', id: 'export-csv', class: 'button secondary' }, t('export.csv'));
    const exportJsonl = h('button', { type: 'button', id: 'export-jsonl', class: 'button secondary' }, t('export.jsonl'));
    const exportStatus = h('span', { id: 'export-status', role: 'status', 'aria-live': 'polite', class: 'muted' });
    const results = h('section', { class: 'card wide', 'aria-labelledby': 'decisions-results-h' });
    main.append(
      h('h1', {}, t('decisions.title')),
      form,
      h('div', { class: 'card wide export' },
        h('h2', {}, t('export.title')),
        h('p', { class: 'muted' }, t('export.help')),
        h('div', { class: 'actions' }, exportCsv, exportJsonl, exportStatus)),
      results);

    const params = () => ({
      order_id: f.order_id.value.trim(), customer_id: f.customer_id.value.trim(), decision: f.decision.value,
      model_version: f.model_version.value.trim(), from: toInstant(f.from.value), to: toInstant(f.to.value),
    });

    const load = async () => {
      let filters;
      try {
        filters = params();
        error.textContent = '';
      } catch (e) {
        error.textContent = e.message;
        return;
      }
      ctx.ready(false);
      for (const el of Object.values(f)) el.removeAttribute('aria-invalid');
      syncHash('/decisions', filters);
      replace(results, h('p', { class: 'loading' }, t('common.loading')));
      let page;
      try {
        page = await request(`/v1/decisions${query({ ...filters, limit: 50 })}`);
      } catch (e) {
        if (!ctx.current()) return;
        for (const x of e.errors || []) f[x.field]?.setAttribute('aria-invalid', 'true');
        replace(results, h('p', { class: 'error-text', role: 'alert' }, e.message),
          e.errors?.length ? h('ul', {}, e.errors.map((x) => h('li', {}, `${x.field}: ${x.reason}`))) : null);
        ctx.ready(true);
        return;
      }
      if (!ctx.current()) return;
      const rows = [...page.decisions];
      let cursor = page.next_cursor;
      const holder = h('div', {});
      const draw = () => replace(holder, rows.length ? scroller(table(rows), t('decisions.title')) : h('p', {}, t('decisions.none')));
      const count = h('p', { class: 'muted', id: 'decisions-count' });
      const more = h('button', { type: 'button', id: 'decisions-more', class: 'button secondary', hidden: !cursor }, t('common.older'));
      const setCount = () => { count.textContent = t('decisions.count', { count: fmt.int(rows.length), more: cursor ? '+' : '' }); };
      more.addEventListener('click', async () => {
        more.disabled = true;
        ctx.ready(false);
        try {
          const next = await request(`/v1/decisions${query({ ...filters, limit: 50, cursor })}`);
          rows.push(...next.decisions);
          cursor = next.next_cursor;
          draw();
          setCount();
          more.hidden = !cursor;
          announce(count.textContent);
        } catch (e) {
          announce(e.message);
        } finally {
          more.disabled = false;
          ctx.ready(true);
        }
      });
      draw();
      setCount();
      replace(results, h('h2', { id: 'decisions-results-h' }, t('decisions.results')), count, holder, h('div', { class: 'actions' }, more));
      ctx.ready(true);
    };

    form.addEventListener('submit', (event) => { event.preventDefault(); load().then(() => announce(document.getElementById('decisions-count')?.textContent || '')); });
    reset.addEventListener('click', () => {
      for (const el of Object.values(f)) el.value = '';
      load();
    });
    const exportAs = async (format, button) => {
      let filters;
      try { filters = params(); } catch (e) { error.textContent = e.message; return; }
      button.disabled = true;
      exportStatus.textContent = t('export.running');
      try {
        const response = await request(`/v1/decisions/export${query({ format, from: filters.from, to: filters.to })}`, { raw: true, headers: { Accept: format === 'csv' ? 'text/csv' : 'application/jsonl' } });
        const blob = await response.blob();
        const stamp = new Date().toISOString().slice(0, 10);
        download(blob, `aval-decisions-${stamp}.${format}`);
        exportStatus.textContent = t('export.done', { size: fmt.bytes(blob.size) });
      } catch (e) {
        exportStatus.textContent = `${t('export.failed')} ${e.message}`;
      } finally {
        button.disabled = false;
      }
    };
    exportCsv.addEventListener('click', () => exportAs('csv', exportCsv));
    exportJsonl.addEventListener('click', () => exportAs('jsonl', exportJsonl));
    await load();
  },
};

function table(rows) {
  return dataTable([
    { label: t('decisions.decidedAt'), value: (d) => fmt.dateTime(d.decided_at) },
    { label: t('decisions.order'), value: (d) => h('a', { href: `#/decisions/${encodeURIComponent(d.request_id)}` }, d.order_id) },
    { label: t('decisions.customer'), value: (d) => d.customer_id ?? '—' },
    { label: t('decisions.decision'), value: (d) => h('span', { class: `badge ${d.decision}` }, t(`decision.${d.decision}`)) },
    { label: t('decisions.probability'), value: (d) => fmt.pct(d.probability), num: true },
    { label: t('decisions.threshold'), value: (d) => fmt.pct(d.threshold), num: true },
    { label: t('model.version'), value: (d) => h('a', { href: `#/models/${d.model_version}` }, `v${d.model_version}`) },
  ], rows, { id: 'decisions-table', rowAttrs: (d) => ({ dataset: { requestId: d.request_id, orderId: d.order_id, decision: d.decision } }) });
}

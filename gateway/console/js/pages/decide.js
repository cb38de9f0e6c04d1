// Decide: one order (with optional facts about its customer) through POST /v1/decisions.

import { request } from '../api.js';
import { h, field, replace, announce } from '../dom.js';
import { t } from '../i18n.js';
import { decisionView } from './decision.js';

/** "1.234,56" or "1,234.56" or "1234.56" → "1234.56" (the API takes a dot and no separators). */
export function normaliseMoney(text) {
  let v = text.trim().replace(/^R\$\s*/, '').replace(/\s/g, '');
  if (!v) return '';
  if (v.includes(',') && v.includes('.')) {
    v = v.lastIndexOf(',') > v.lastIndexOf('.') ? v.replace(/\./g, '').replace(',', '.') : v.replace(/,/g, '');
  } else if (v.includes(',')) {
    v = v.replace(',', '.');
  }
  return v;
}

function nowIso() {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomId() {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return `WEB-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
}

export default {
  name: 'decide',
  async render(ctx) {
    const { main } = ctx;
    const list = await request('/v1/models');
    if (!ctx.current()) return;
    main.append(h('h1', {}, t('decide.title')));
    if (!list.active_version) {
      main.append(h('p', { class: 'notice warning' }, t('decide.noModel'), ' ', h('a', { href: '#/datasets' }, t('overview.uploadFirst'))));
    }

    const input = (id, attrs = {}) => h('input', { id, name: id, autocomplete: 'off', ...attrs });
    const yesNo = (id) => h('select', { id, name: id },
      h('option', { value: '' }, t('decide.unknown')), h('option', { value: 'true' }, t('common.yes')), h('option', { value: 'false' }, t('common.no')));
    const f = {
      orderId: input('order-id', { required: true, maxlength: 100, value: randomId() }),
      customerId: input('customer-id', { required: true, maxlength: 100 }),
      amount: input('amount', { required: true, inputmode: 'decimal' }),
      issuedAt: input('issued-at', { required: true, value: nowIso(), spellcheck: 'false' }),
      term: input('payment-term-days', { type: 'number', min: 0, max: 3650, step: 1, inputmode: 'numeric' }),
      installments: input('installments', { type: 'number', min: 1, step: 1, inputmode: 'numeric' }),
      version: h('select', { id: 'model-version', name: 'model-version' },
        h('option', { value: '' }, list.active_version ? t('decide.activeVersion', { version: list.active_version }) : t('decide.noActive')),
        list.models.filter((m) => !m.active).map((m) => h('option', { value: m.version }, t('decide.whatIf', { version: m.version })))),
      document: input('customer-document', { inputmode: 'numeric', maxlength: 64 }),
      state: input('customer-state', { maxlength: 2, autocapitalize: 'characters' }),
      foundedOn: input('customer-founded-on', { placeholder: 'AAAA-MM-DD' }),
      simples: yesNo('customer-simples'),
      mei: yesNo('customer-mei'),
      finalConsumer: yesNo('customer-final-consumer'),
      limit: input('limit-amount', { inputmode: 'decimal' }),
      validFrom: input('limit-valid-from', { placeholder: 'AAAA-MM-DD' }),
      queriedAt: input('bureau-queried-at', { spellcheck: 'false' }),
      score: input('bureau-score', { type: 'number', min: 0, max: 1000, step: 1 }),
      inquiries: input('bureau-inquiries', { type: 'number', min: 0, step: 1 }),
      onTime: input('bureau-on-time', { type: 'number', min: 0, max: 1, step: 0.01 }),
      pefinCount: input('bureau-pefin-count', { type: 'number', min: 0, step: 1 }),
      pefinTotal: input('bureau-pefin-total', { inputmode: 'decimal' }),
      refinCount: input('bureau-refin-count', { type: 'number', min: 0, step: 1 }),
      overdueCount: input('bureau-overdue-count', { type: 'number', min: 0, step: 1 }),
    };
    f.foundedOn.placeholder = t('common.datePlaceholder');
    f.validFrom.placeholder = t('common.datePlaceholder');
    const paths = {
      'order.id': f.orderId, 'order.customer_id': f.customerId, 'order.amount': f.amount, 'order.issued_at': f.issuedAt,
      'order.payment_term_days': f.term, 'order.installments': f.installments, model_version: f.version,
      'customer.document': f.document, 'customer.state': f.state, 'customer.founded_on': f.foundedOn,
      'customer.simples_nacional': f.simples, 'customer.mei': f.mei, 'customer.final_consumer': f.finalConsumer,
      'credit_limit.limit': f.limit, 'credit_limit.valid_from': f.validFrom,
      'bureau_report.queried_at': f.queriedAt, 'bureau_report.score': f.score, 'bureau_report.inquiries': f.inquiries,
      'bureau_report.payment_habits.on_time': f.onTime, 'bureau_report.negatives.pefin.count': f.pefinCount,
      'bureau_report.negatives.pefin.total': f.pefinTotal, 'bureau_report.negatives.refin.count': f.refinCount,
      'bureau_report.negatives.overdue_debts.count': f.overdueCount,
    };
    const labelOf = (path) => {
      const el = paths[path];
      return el ? document.querySelector(`label[for="${el.id}"]`)?.textContent || path : path;
    };

    const error = h('div', { id: 'decide-error', class: 'error-text', role: 'alert' });
    const submit = h('button', { type: 'submit', id: 'decide-submit', class: 'button' }, t('decide.submit'));
    const result = h('section', { id: 'decide-result', class: 'card wide', hidden: true, 'aria-live': 'polite', 'aria-labelledby': 'decide-result-h' });
    const form = h('form', { id: 'decide-form', class: 'card wide', novalidate: true },
      h('fieldset', {}, h('legend', {}, t('decide.order')),
        h('div', { class: 'form-grid' },
          field(t('decide.orderId'), f.orderId),
          field(t('decide.customerId'), f.customerId),
          field(t('decide.amount'), f.amount, t('decide.amountHint')),
          field(t('decide.issuedAt'), f.issuedAt, t('decide.issuedAtHint')),
          field(t('decide.term'), f.term),
          field(t('decide.installments'), f.installments),
          field(t('decide.version'), f.version))),
      h('details', { id: 'decide-facts', class: 'facts' },
        h('summary', {}, t('decide.facts')),
        h('p', { class: 'muted' }, t('decide.factsHelp')),
        h('fieldset', {}, h('legend', {}, t('decide.customer')),
          h('div', { class: 'form-grid' },
            field(t('decide.document'), f.document), field(t('decide.state'), f.state), field(t('decide.foundedOn'), f.foundedOn),
            field(t('decide.simples'), f.simples), field(t('decide.mei'), f.mei), field(t('decide.finalConsumer'), f.finalConsumer))),
        h('fieldset', {}, h('legend', {}, t('decide.creditLimit')),
          h('div', { class: 'form-grid' }, field(t('decide.limit'), f.limit), field(t('decide.validFrom'), f.validFrom))),
        h('fieldset', {}, h('legend', {}, t('decide.bureau')),
          h('div', { class: 'form-grid' },
            field(t('decide.queriedAt'), f.queriedAt, t('decide.queriedAtHint')), field(t('decide.score'), f.score), field(t('decide.inquiries'), f.inquiries),
            field(t('decide.onTime'), f.onTime, t('decide.onTimeHint')), field(t('decide.pefinCount'), f.pefinCount), field(t('decide.pefinTotal'), f.pefinTotal),
            field(t('decide.refinCount'), f.refinCount), field(t('decide.overdueCount'), f.overdueCount)))),
      error,
      h('div', { class: 'actions' }, submit));

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      replace(error);
      for (const el of Object.values(f)) el.removeAttribute('aria-invalid');
      const body = buildRequest(f);
      const missing = [['order.id', f.orderId], ['order.customer_id', f.customerId], ['order.amount', f.amount], ['order.issued_at', f.issuedAt]]
        .filter(([, el]) => !el.value.trim());
      if (missing.length) {
        for (const [, el] of missing) el.setAttribute('aria-invalid', 'true');
        replace(error, h('p', {}, t('decide.required')), h('ul', {}, missing.map(([p]) => h('li', {}, labelOf(p)))));
        missing[0][1].focus();
        return;
      }
      submit.disabled = true;
      submit.setAttribute('aria-busy', 'true');
      result.hidden = false;
      replace(result, h('p', { class: 'loading' }, t('decide.deciding')));
      try {
        const decision = await request('/v1/decisions', { method: 'POST', body });
        replace(result, h('h2', { id: 'decide-result-h' }, t('decide.result')), decisionView(decision, { whatIf: Boolean(body.model_version) }));
        announce(t(`decision.${decision.decision}`));
        result.scrollIntoView({ block: 'start', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
      } catch (e) {
        replace(result);
        result.hidden = true;
        const items = e.errors?.length
          ? e.errors.map((x) => {
            paths[x.field]?.setAttribute('aria-invalid', 'true');
            return h('li', {}, h('strong', {}, labelOf(x.field)), `: ${x.reason}`);
          })
          : [];
        const first = e.problem?.first_decision;
        replace(error,
          h('p', {}, e.status === 504 ? t('decide.timeout') : e.message),
          items.length ? h('ul', {}, items) : null,
          first ? h('p', {}, t('decide.conflict'), ' ', h('a', { href: `#/decisions/${encodeURIComponent(first.request_id)}` }, first.request_id)) : null);
        const bad = e.errors?.map((x) => paths[x.field]).find(Boolean);
        if (bad) {
          if (bad.closest('details')) bad.closest('details').open = true;
          bad.focus();
        }
      } finally {
        submit.disabled = false;
        submit.removeAttribute('aria-busy');
      }
    });

    main.append(form, result);
  },
};

function buildRequest(f) {
  const v = (el) => el.value.trim();
  const num = (el) => (v(el) === '' ? undefined : Number(v(el)));
  const bool = (el) => (v(el) === '' ? undefined : v(el) === 'true');
  const compact = (o) => {
    const out = {};
    for (const [k, val] of Object.entries(o)) {
      if (val === undefined || val === '') continue;
      if (val && typeof val === 'object' && !Array.isArray(val)) {
        const inner = compact(val);
        if (Object.keys(inner).length) out[k] = inner;
      } else out[k] = val;
    }
    return out;
  };
  const customerId = v(f.customerId);
  const body = {
    order: compact({
      id: v(f.orderId), customer_id: customerId, issued_at: v(f.issuedAt), amount: normaliseMoney(f.amount.value),
      payment_term_days: num(f.term), installments: num(f.installments),
    }),
  };
  if (v(f.version)) body.model_version = Number(v(f.version));
  const customer = compact({
    document: v(f.document), state: v(f.state).toUpperCase(), founded_on: v(f.foundedOn),
    simples_nacional: bool(f.simples), mei: bool(f.mei), final_consumer: bool(f.finalConsumer),
  });
  if (Object.keys(customer).length) body.customer = { id: customerId, ...customer };
  if (v(f.limit) || v(f.validFrom)) {
    body.credit_limit = compact({ customer_id: customerId, limit: normaliseMoney(f.limit.value), valid_from: v(f.validFrom) });
  }
  const bureau = compact({
    score: num(f.score), inquiries: num(f.inquiries),
    payment_habits: { on_time: num(f.onTime) },
    negatives: {
      pefin: { count: num(f.pefinCount), total: normaliseMoney(f.pefinTotal.value) || undefined },
      refin: { count: num(f.refinCount) },
      overdue_debts: { count: num(f.overdueCount) },
    },
  });
  if (Object.keys(bureau).length || v(f.queriedAt)) {
    body.bureau_report = { customer_id: customerId, queried_at: v(f.queriedAt) || v(f.issuedAt), ...bureau };
  }
  return body;
}

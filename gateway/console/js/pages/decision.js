// One recorded decision (#/decisions/<request_id>), and the decision view shared with Decide.

import { request, enc, query } from '../api.js';
import { h, dataTable, scroller } from '../dom.js';
import { t, fmt } from '../i18n.js';
import { chartFigure, hbars, gauge } from '../charts.js';

export default {
  name: 'decision',
  async render(ctx) {
    const { main } = ctx;
    const id = ctx.params[0];
    const decision = await request(`/v1/decisions/${enc(id)}`);
    if (!ctx.current()) return;
    main.append(
      h('p', { class: 'crumbs' }, h('a', { href: '#/decisions' }, t('decisions.title')), ' › ', decision.order_id),
      h('h1', {}, t('decision.heading', { order: decision.order_id })),
      h('section', { class: 'card wide', 'aria-labelledby': 'decision-h' }, h('h2', { id: 'decision-h' }, t('decide.result')), decisionView(decision, { detail: true })),
      h('p', {}, h('a', { href: `#/audit${query({ request_id: decision.request_id })}`, id: 'decision-audit-link' }, t('decision.inAudit'))));
  },
};

/** The decision, its probability against the threshold, reasons (chart and sentences), largest amount. */
export function decisionView(d, { whatIf = false, detail = false } = {}) {
  const approved = d.decision === 'approved';
  const reasons = d.reasons || [];
  const rows = reasons.map((r) => ({
    label: h('code', {}, r.feature),
    value: r.contribution,
    text: `${r.contribution > 0 ? '+' : ''}${fmt.num(r.contribution, 2)}`,
  }));
  const { figure, body } = chartFigure({
    id: 'chart-reasons',
    caption: t('decision.reasonsCaption'),
    table: dataTable([
      { label: t('decision.feature'), value: (r) => h('code', {}, r.feature) },
      { label: t('decision.value'), value: (r) => (r.value ?? t('decision.unknownValue')) },
      { label: t('decision.contribution'), value: (r) => fmt.num(r.contribution, 3), num: true },
    ], reasons),
  });
  body.append(reasons.length
    ? hbars(rows, { signed: true, positiveLabel: t('decision.raised'), negativeLabel: t('decision.lowered') })
    : h('p', { class: 'muted' }, t('decision.noReasons')));

  const requestId = whatIf
    ? h('span', {}, h('code', { id: 'decision-request-id' }, d.request_id), ' ', h('span', { class: 'muted' }, t('decision.whatIfNote')))
    : detail
      ? h('code', { id: 'decision-request-id' }, d.request_id)
      : h('a', { href: `#/decisions/${enc(d.request_id)}`, id: 'decision-request-id' }, d.request_id);

  const max = d.max_approvable_amount;
  const timings = Object.entries(d.timings_us || {});
  return h('div', { class: 'decision-view' },
    h('div', { class: 'decision-head' },
      h('p', { id: 'decision', class: `decision-badge ${d.decision}`, dataset: { decision: d.decision } },
        h('span', { 'aria-hidden': 'true' }, { approved: '✔ ', rejected: '✖ ' }[d.decision] || '? '), t(`decision.${d.decision}`)),
      h('dl', { class: 'stats' },
        h('div', { class: 'stat' }, h('dt', {}, t('decision.order')), h('dd', {}, d.order_id)),
        h('div', { class: 'stat' }, h('dt', {}, t('decision.requestId')), h('dd', {}, requestId)),
        h('div', { class: 'stat' }, h('dt', {}, t('model.version')), h('dd', {}, h('a', { href: `#/models/${d.model_version}` }, `v${d.model_version}`))),
        d.decided_at ? h('div', { class: 'stat' }, h('dt', {}, t('decision.decidedAt')), h('dd', {}, fmt.dateTime(d.decided_at))) : null,
        d.policy ? h('div', { class: 'stat wide-stat' }, h('dt', {}, t('decision.policyTitle')),
          h('dd', { id: 'decision-policy', dataset: { version: d.policy.version, band: d.policy.band } },
            t('decision.policy', { version: d.policy.version, band: t(`band.${d.policy.band}`) }),
            d.policy.rules_fired.length ? ` (${d.policy.rules_fired.join(', ')})` : '')) : null)),
    d.repeat ? h('p', { class: 'notice info' }, t('decision.repeat')) : null,
    h('div', { id: 'probability', class: 'probability', dataset: { value: d.probability, threshold: d.threshold } },
      h('p', {}, t('decision.probabilityText', { p: fmt.pct(d.probability), threshold: fmt.pct(d.threshold) }),
        ' ', h('strong', {}, d.probability >= d.threshold ? t('decision.overThreshold') : t('decision.underThreshold'))),
      gauge(d.probability, d.threshold, `${t('decision.threshold')} ${fmt.pct(d.threshold)}`)),
    h('div', { class: 'max-amount-row' },
      h('h3', {}, t('decision.maxAmount')),
      h('p', { id: 'max-amount', dataset: { value: max ?? '' } },
        max ? fmt.money(max) : (approved ? t('decision.maxApproved') : t('decision.maxNone')))),
    h('div', { class: 'reasons-grid' },
      h('div', {}, h('h3', {}, t('decision.reasons')),
        reasons.length ? h('ol', { id: 'reasons', class: 'reason-sentences' }, reasons.map((r) => h('li', { dataset: { feature: r.feature } }, r.sentence))) : h('p', { id: 'reasons' }, t('decision.noReasons'))),
      figure),
    timings.length ? h('details', { class: 'timings' }, h('summary', {}, t('decision.timings')),
      scroller(dataTable([
        { label: t('decision.stage'), value: ([k]) => k },
        { label: t('decision.microseconds'), value: ([, v]) => fmt.int(v), num: true },
      ], timings), t('decision.timings'))) : null);
}

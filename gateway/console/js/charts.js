// Charts: uPlot (vendor/uPlot.iife.min.js, global `uPlot`) for the curves and the time series,
// plain HTML bars for ranked and signed quantities (feature importance, contributions), which
// read better as text and need no canvas. Every chart sits in a <figure> with a caption and its
// data as a table in a <details>: the text alternative.

import { h, replace } from './dom.js';
import { t } from './i18n.js';

const COLORS = {
  primary: '#1a4fd6',
  approved: '#177245',
  blocked: '#b3261e',
  muted: '#6b7280',
  axis: '#374151',
  grid: '#e5e7eb',
};
export { COLORS };

/**
 * <figure id=…><figcaption>caption</figcaption><div class=chart-body/><details>table</details>.
 * Returns { figure, body } — draw into body.
 */
export function chartFigure({ id, caption, table, summary }) {
  const body = h('div', { class: 'chart-body' });
  const figure = h('figure', { id, class: 'chart' },
    h('figcaption', {}, caption),
    body,
    table ? h('details', { class: 'chart-data' }, h('summary', {}, summary || t('chart.dataTable')), h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('common.tableOf', { name: caption }) }, table)) : null);
  return { figure, body };
}

/** A note in place of a chart (no data). */
export function chartEmpty(body, text) {
  replace(body, h('p', { class: 'muted chart-empty' }, text));
}

function axisFont() {
  return '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
}

/** Draw a uPlot chart into `body` once it has a width, and keep it sized to it. */
export function plot(body, options, data) {
  if (typeof window.uPlot !== 'function') {
    chartEmpty(body, t('chart.unavailable'));
    return null;
  }
  const holder = h('div', { class: 'plot', 'aria-hidden': 'true' });
  replace(body, holder);
  const width = () => Math.max(260, Math.floor(body.clientWidth || 600));
  const height = options.height || 260;
  const chart = new window.uPlot({ legend: { live: false }, ...options, width: width(), height }, data, holder);
  if ('ResizeObserver' in window) {
    let last = width();
    const observer = new ResizeObserver(() => {
      if (!body.isConnected) { observer.disconnect(); chart.destroy(); return; }
      const w = width();
      if (w !== last) { last = w; chart.setSize({ width: w, height }); }
    });
    observer.observe(body);
  }
  return chart;
}

export function axis(label, values, extra = {}) {
  return {
    label: label || undefined, values, stroke: COLORS.axis, font: axisFont(), labelFont: axisFont(),
    grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid, width: 1 }, ...extra,
  };
}

/** Draws a vertical marker at x = value (the threshold) on a uPlot chart. */
export function verticalMarker(value, color = COLORS.axis) {
  return (u) => {
    const x = Math.round(u.valToPos(value, 'x', true));
    const { top, height } = u.bbox;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.restore();
  };
}

export function bars(align = 0, size = 0.6) {
  return window.uPlot?.paths?.bars ? window.uPlot.paths.bars({ size: [size, 60], align, gap: 1 }) : undefined;
}

/**
 * Horizontal HTML bars. rows: [{ label, value, text }]. signed: bars grow right (positive) or
 * left (negative) from the middle; else from the left, scaled to the largest value.
 */
export function hbars(rows, { signed = false, id, positiveLabel, negativeLabel } = {}) {
  const max = Math.max(1e-12, ...rows.map((r) => Math.abs(r.value)));
  const list = h('ul', { class: `hbars${signed ? ' signed' : ''}`, id });
  for (const row of rows) {
    const share = Math.abs(row.value) / max;
    const fill = h('span', { class: `bar hbar-fill ${signed ? (row.value >= 0 ? 'up' : 'down') : ''}` });
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    const track = signed
      ? h('span', { class: 'hbar-track', 'aria-hidden': 'true' },
        h('span', { class: 'hbar-half left' }, row.value < 0 ? fill : null),
        h('span', { class: 'hbar-half right' }, row.value >= 0 ? fill : null))
      : h('span', { class: 'hbar-track', 'aria-hidden': 'true' }, h('span', { class: 'hbar-half' }, fill));
    list.append(h('li', {},
      h('span', { class: 'hbar-label' }, row.label),
      track,
      h('span', { class: 'hbar-value' }, row.text)));
  }
  if (signed && (positiveLabel || negativeLabel)) {
    return h('div', { class: 'hbars-wrap' },
      h('p', { class: 'hbars-legend', 'aria-hidden': 'true' },
        h('span', { class: 'down' }, `◀ ${negativeLabel}`), h('span', { class: 'up' }, `${positiveLabel} ▶`)),
      list);
  }
  return list;
}

/** A probability gauge: 0..1 with the threshold marked and labelled at its place. */
export function gauge(probability, threshold, thresholdLabel) {
  const clamp = (x) => `${(Math.min(1, Math.max(0, x)) * 100).toFixed(1)}%`;
  const fill = h('span', { class: `gauge-fill ${probability >= threshold ? 'over' : 'under'}` });
  fill.style.width = clamp(probability);
  const mark = h('span', { class: 'gauge-mark' });
  mark.style.left = clamp(threshold);
  const label = h('span', { class: 'gauge-mark-label' }, thresholdLabel || '');
  label.style.left = clamp(threshold);
  return h('div', { class: 'gauge-wrap', 'aria-hidden': 'true' },
    h('div', { class: 'gauge' }, fill, mark),
    h('div', { class: 'gauge-scale' }, h('span', {}, '0%'), label, h('span', {}, '100%')));
}

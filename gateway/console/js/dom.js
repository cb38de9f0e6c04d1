// Building the page with DOM calls only: text never goes through innerHTML, so nothing the API
// returns can inject markup, and no inline style attribute is ever written (the CSP forbids it).

import { t } from './i18n.js';

/** h('a', {href: '#/x', class: 'c', dataset: {id: 1}, onclick: f}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' && 'value' in el && tag !== 'button' && tag !== 'option') el.value = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let fieldIds = 0;
/** A labelled control: `<div class="field"><label for=id>…</label><input id=id …></div>`. */
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++fieldIds}`;
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('small', { id: hintId, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/** A horizontally scrollable, keyboard-focusable wrapper for a wide table. */
export function scroller(table, label) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('common.tableOf', { name: label }) }, table);
}

/**
 * A table: columns = [{ label, value: row => node|string, num: bool }], rowAttrs(row) → attrs.
 */
export function dataTable(columns, rows, { id, caption, rowAttrs, className } = {}) {
  return h('table', { id, class: className || 'data' },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
      columns.map((c, i) => {
        const value = c.value(row);
        return i === 0 && c.header !== false
          ? h('th', { scope: 'row', class: c.num ? 'num' : null }, value)
          : h('td', { class: c.num ? 'num' : null, ...(c.attrs ? c.attrs(row) : {}) }, value);
      })))));
}

/** Announce a short message to assistive technology. */
export function announce(text) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 30);
}

/** Save a Blob as a file, through an object URL that never holds a token. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// The shell: hash router, sign-in state, language, navigation. Each page module exports
// `{ name, render(ctx) }`; the router gives every page a fresh `<main id="page" data-page=…
// data-route=…>` (the route tells two visits of one page apart, say models/1 and models/2) and
// sets `data-ready="true"` on it once `render` has loaded the page's data.

import { session, onUnauthorized, request, setLanguageSource } from './api.js';
import { h, clear, announce } from './dom.js';
import { t, lang, setLang, initialLanguage } from './i18n.js';
import signin from './pages/signin.js';
import overview from './pages/overview.js';
import datasets from './pages/datasets.js';
import models from './pages/models.js';
import model from './pages/model.js';
import decide from './pages/decide.js';
import decisions from './pages/decisions.js';
import decision from './pages/decision.js';
import audit from './pages/audit.js';
import monitoring from './pages/monitoring.js';

const routes = [
  [/^\/overview$/, overview],
  [/^\/datasets$/, datasets],
  [/^\/models$/, models],
  [/^\/models\/(\d+)$/, model],
  [/^\/decide$/, decide],
  [/^\/decisions$/, decisions],
  [/^\/decisions\/([^/]+)$/, decision],
  [/^\/monitoring$/, monitoring],
  [/^\/audit$/, audit],
];

const NAV_LABELS = {
  overview: 'nav.overview', datasets: 'nav.datasets', models: 'nav.models',
  decide: 'nav.decide', decisions: 'nav.decisions', monitoring: 'nav.monitoring', audit: 'nav.audit',
};

let generation = 0;
let signinMessage = '';
let company = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, search = ''] = raw.split('?');
  return { path: path || '/overview', query: new URLSearchParams(search) };
}

function freshMain(name, route) {
  const old = document.getElementById('page');
  const main = h('main', { id: 'page', tabindex: -1, dataset: { page: name, route } });
  old.replaceWith(main);
  return main;
}

function paintShell(signedIn) {
  document.documentElement.lang = lang();
  document.title = 'aval';
  document.getElementById('skip-link').textContent = t('shell.skip');
  document.getElementById('language-label').textContent = t('shell.language');
  document.getElementById('language').value = lang();
  const signout = document.getElementById('signout');
  signout.textContent = t('shell.signout');
  signout.hidden = !signedIn;
  const nav = document.getElementById('nav');
  nav.hidden = !signedIn;
  nav.setAttribute('aria-label', t('shell.nav'));
  document.getElementById('nav-toggle').hidden = !signedIn;
  document.getElementById('nav-toggle').textContent = t('shell.menu');
  for (const a of nav.querySelectorAll('a[data-nav]')) a.textContent = t(NAV_LABELS[a.dataset.nav]);
  document.getElementById('company-name').textContent = signedIn && company ? company.name : '';
}

function markNav(name) {
  const section = { model: 'models', decision: 'decisions' }[name] || name;
  for (const a of document.querySelectorAll('#nav a[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function closeNav() {
  const toggle = document.getElementById('nav-toggle');
  toggle.setAttribute('aria-expanded', 'false');
  document.body.classList.remove('nav-open');
}

async function loadCompany() {
  if (company) return;
  try {
    company = await request('/v1/companies/me');
    document.getElementById('company-name').textContent = company.name;
  } catch { /* shown on the page's own calls */ }
}

export async function route({ focus = true } = {}) {
  const gen = ++generation;
  const { path, query } = parseHash();
  const signedIn = Boolean(session.token());
  paintShell(signedIn);
  closeNav();
  if (!signedIn) {
    const main = freshMain(signin.name, path);
    markNav('');
    await signin.render(ctxFor(main, gen, [], query, { message: signinMessage }));
    signinMessage = '';
    main.dataset.ready = 'true';
    return;
  }
  loadCompany();
  let page = null;
  let params = [];
  for (const [pattern, candidate] of routes) {
    const match = pattern.exec(path);
    if (match) { page = candidate; params = match.slice(1).map(decodeURIComponent); break; }
  }
  if (!page) { location.replace('#/overview'); return; }
  const main = freshMain(page.name, path);
  markNav(page.name);
  const ctx = ctxFor(main, gen, params, query);
  try {
    await page.render(ctx);
    if (ctx.current()) {
      ctx.ready(true);
      // For measuring: the time from navigation to the first page with its data.
      if (!performance.getEntriesByName('aval:first-ready').length) performance.mark('aval:first-ready');
    }
  } catch (error) {
    if (!ctx.current() || error?.status === 401) return;
    console.error(error);
    main.append(h('div', { class: 'notice error', role: 'alert' }, t('error.page'), ' ', errorText(error)));
  }
  if (focus && ctx.current()) {
    const heading = main.querySelector('h1');
    (heading || main).setAttribute('tabindex', '-1');
    (heading || main).focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

function ctxFor(main, gen, params, query, extra = {}) {
  return {
    main, params, query, ...extra,
    current: () => gen === generation && main.isConnected,
    ready(on) {
      if (on) main.dataset.ready = 'true';
      else delete main.dataset.ready;
    },
    go: (hash) => { location.hash = hash; },
    reroute: (options) => route(options),
    signedIn: () => { signinMessage = ''; company = null; },
  };
}

export function errorText(error) {
  if (!error) return '';
  if (error.status === 0) return t('error.network');
  if (error.status === 403) return t('error.forbidden');
  if (error.status === 429 || error.status === 503) return `${t('error.busy')} ${error.message || ''}`.trim();
  return error.message || String(error);
}

onUnauthorized(() => {
  session.signOut();
  company = null;
  signinMessage = t('signin.expired');
  route();
});
setLanguageSource(() => lang());

setLang(initialLanguage());
document.getElementById('language').addEventListener('change', (event) => {
  setLang(event.target.value);
  announce(t('shell.languageChanged'));
  route({ focus: false }).then(() => document.getElementById('language').focus());
});
document.getElementById('signout').addEventListener('click', () => {
  session.signOut();
  company = null;
  sessionStorage.clear();
  location.hash = '#/overview';
  route();
  announce(t('shell.signedOut'));
});
document.getElementById('nav-toggle').addEventListener('click', (event) => {
  const open = event.currentTarget.getAttribute('aria-expanded') !== 'true';
  event.currentTarget.setAttribute('aria-expanded', String(open));
  document.body.classList.toggle('nav-open', open);
  if (open) document.querySelector('#nav a')?.focus();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && document.body.classList.contains('nav-open')) {
    closeNav();
    document.getElementById('nav-toggle').focus();
  }
});
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  const main = document.getElementById('page');
  const target = main.querySelector('h1') || main;
  target.setAttribute('tabindex', '-1');
  target.focus();
});
window.addEventListener('hashchange', () => route());
route({ focus: false });

// Sign-in with the company token (kept in sessionStorage only), and registering a company.

import { request, session, ApiError } from '../api.js';
import { h, field, replace, announce } from '../dom.js';
import { t } from '../i18n.js';

export default {
  name: 'signin',
  async render(ctx) {
    const { main } = ctx;
    const token = h('input', { id: 'signin-token', name: 'token', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false', class: 'mono token-input' });
    const error = h('p', { id: 'signin-error', class: 'error-text', role: 'alert' });
    if (ctx.message) error.textContent = ctx.message;
    const submit = h('button', { type: 'submit', id: 'signin-submit', class: 'button' }, t('signin.submit'));
    const form = h('form', { id: 'signin-form', class: 'card narrow', novalidate: true },
      h('h2', {}, t('signin.title')),
      h('p', { class: 'muted' }, t('signin.help')),
      field(t('signin.token'), token),
      error,
      h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const value = token.value.trim().replace(/^Bearer\s+/i, '');
      if (!value) {
        error.textContent = t('signin.empty');
        token.focus();
        return;
      }
      submit.disabled = true;
      error.textContent = '';
      session.signIn(value);
      try {
        await request('/v1/companies/me', { handle401: false });
        ctx.signedIn();
        announce(t('signin.done'));
        if (!location.hash || location.hash === '#' || location.hash.startsWith('#/signin')) location.hash = '#/overview';
        ctx.reroute();
      } catch (e) {
        session.signOut();
        submit.disabled = false;
        error.textContent = e instanceof ApiError && (e.status === 401 || e.status === 403)
          ? t('signin.refused')
          : `${t('signin.failed')} ${e.message || ''}`;
        token.focus();
      }
    });

    const name = h('input', { id: 'register-name', name: 'name', required: true, maxlength: 200, autocomplete: 'organization' });
    const email = h('input', { id: 'register-email', name: 'email', type: 'email', required: true, maxlength: 254, autocomplete: 'email' });
    const regError = h('div', { id: 'register-error', class: 'error-text', role: 'alert' });
    const result = h('div', { id: 'register-result', 'aria-live': 'polite' });
    const regSubmit = h('button', { type: 'submit', id: 'register-submit', class: 'button secondary' }, t('register.submit'));
    const register = h('form', { id: 'register-form', class: 'card narrow', novalidate: true },
      h('h2', {}, t('register.title')),
      h('p', { class: 'muted' }, t('register.help')),
      field(t('register.name'), name),
      field(t('register.email'), email),
      regError,
      h('div', { class: 'actions' }, regSubmit),
      result);
    register.addEventListener('submit', async (event) => {
      event.preventDefault();
      regError.textContent = '';
      replace(result);
      for (const input of [name, email]) input.removeAttribute('aria-invalid');
      if (!name.value.trim() || !email.value.trim()) {
        regError.textContent = t('register.missing');
        return;
      }
      regSubmit.disabled = true;
      try {
        const created = await request('/v1/companies', { method: 'POST', auth: false, body: { name: name.value.trim(), email: email.value.trim() } });
        const shown = h('textarea', { id: 'register-token', readonly: true, rows: 4, class: 'mono' });
        shown.value = created.token;
        const use = h('button', { type: 'button', class: 'button', id: 'register-use' }, t('register.use'));
        use.addEventListener('click', () => {
          token.value = created.token;
          form.requestSubmit();
        });
        const copy = h('button', { type: 'button', class: 'button secondary' }, t('register.copy'));
        copy.addEventListener('click', async () => {
          try { await navigator.clipboard.writeText(created.token); announce(t('register.copied')); } catch { shown.select(); }
        });
        replace(result, h('div', { class: 'notice success' },
          h('p', {}, t('register.done')),
          field(t('register.token'), shown, t('register.keep')),
          h('div', { class: 'actions' }, use, copy)));
        shown.focus();
        shown.select();
      } catch (e) {
        const lines = e.errors?.length ? e.errors.map((x) => `${t(`register.field.${x.field}`, {}, x.field)}: ${x.reason}`) : [e.message];
        replace(regError, lines.map((line) => h('div', {}, line)));
        for (const x of e.errors || []) ({ name, email })[x.field]?.setAttribute('aria-invalid', 'true');
      } finally {
        regSubmit.disabled = false;
      }
    });

    main.append(
      h('h1', {}, t('signin.heading')),
      h('div', { class: 'signin-grid' }, form, register));
  },
};

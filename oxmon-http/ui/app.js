// The console: a hash router over the pages, the language switch, logout
// and a 30 s auto-refresh of the page shown.

import { setToken, token } from './api.js';
import { t, toggleLanguage, language } from './i18n.js';
import { el } from './dom.js';
import {
  agentPage, alertsPage, certificatesPage, loginPage, overviewPage,
} from './pages.js';
import {
  ADMIN_ROUTES, auditPage, channelsPage, rulesPage, settingsPage, silencesPage, tokensPage, usersPage, whitelistPage,
} from './admin.js';

window.oxmon = { charts: {}, ready: false };

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const langButton = document.getElementById('lang');
const logoutButton = document.getElementById('logout');
const agentState = { range: '1h', rerender: () => show() };
const auditState = {};
// The administration pages, each with its own refresh (on a change).
const ADMIN = {
  '/rules': (view) => rulesPage(view, show),
  '/channels': (view) => channelsPage(view, show),
  '/silences': (view) => silencesPage(view, show),
  '/whitelist': (view) => whitelistPage(view, show),
  '/users': (view) => usersPage(view, show),
  '/tokens': (view) => tokensPage(view, show),
  '/settings': (view) => settingsPage(view, show),
  '/audit': (view) => auditPage(view, show, auditState),
};
let timer = null;

function header() {
  langButton.textContent = t('other');
  logoutButton.textContent = t('logout');
  logoutButton.hidden = !token();
  nav.replaceChildren(...(token()
    ? [el('a', { href: '#/' }, t('fleet')), el('a', { href: '#/alerts' }, t('alerts')),
      el('a', { href: '#/certificates' }, t('certificates')), el('a', { href: '#/rules' }, t('adminNav'))]
    : []));
}

async function show() {
  clearTimeout(timer);
  window.oxmon.ready = false;
  header();
  const route = location.hash.replace(/^#/, '') || '/';
  try {
    if (!token() || route === '/login') {
      loginPage(view, () => {
        location.hash = '#/';
        show();
      });
    } else if (route === '/alerts') {
      await alertsPage(view, show);
    } else if (route === '/certificates') {
      await certificatesPage(view, show);
    } else if (ADMIN[route]) {
      await ADMIN[route](view);
    } else if (route.startsWith('/agent/')) {
      // `#/agent/<id>?range=7d`: the range is part of the address.
      const [path, query] = route.slice('/agent/'.length).split('?');
      const params = new URLSearchParams(query ?? '');
      for (const key of ['range', 'at', 'from', 'to']) agentState[key] = params.get(key);
      await agentPage(view, decodeURIComponent(path), agentState);
    } else {
      await overviewPage(view);
    }
  } catch (err) {
    if (err.status !== 401) view.replaceChildren(el('p', { className: 'error' }, `${t('error')}: ${err.message}`));
  }
  window.oxmon.ready = true;
  // For the console's figures: when the page shown had its data drawn.
  window.oxmon.readyAt = performance.now();
  // Administration pages are left alone: they hold forms and may show a
  // token once.
  if (token() && route !== '/login' && !ADMIN_ROUTES.includes(route)) timer = setTimeout(show, 30000);
}

langButton.addEventListener('click', () => {
  toggleLanguage();
  show();
});
logoutButton.addEventListener('click', () => {
  setToken(null);
  location.hash = '#/login';
});
window.addEventListener('hashchange', show);
document.documentElement.lang = language() === 'zh' ? 'zh-CN' : 'en';
show();

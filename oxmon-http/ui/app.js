// The console: a hash router over the pages, the language switch, logout
// and a 30 s auto-refresh of the page shown.

import { setToken, token } from './api.js';
import { t, toggleLanguage, language } from './i18n.js';
import {
  agentPage, alertsPage, certificatesPage, el, loginPage, overviewPage, whitelistPage,
} from './pages.js';

window.oxmon = { charts: {}, ready: false };

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const langButton = document.getElementById('lang');
const logoutButton = document.getElementById('logout');
const agentState = { range: '1h', rerender: () => show() };
let timer = null;

function header() {
  langButton.textContent = t('other');
  logoutButton.textContent = t('logout');
  logoutButton.hidden = !token();
  nav.replaceChildren(...(token()
    ? [el('a', { href: '#/' }, t('fleet')), el('a', { href: '#/alerts' }, t('alerts')),
      el('a', { href: '#/certificates' }, t('certificates')), el('a', { href: '#/whitelist' }, t('whitelist'))]
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
    } else if (route === '/whitelist') {
      await whitelistPage(view, show);
    } else if (route.startsWith('/agent/')) {
      // `#/agent/<id>?range=7d`: the range is part of the address.
      const [path, query] = route.slice('/agent/'.length).split('?');
      const range = new URLSearchParams(query ?? '').get('range');
      agentState.range = range;
      agentState.at = new URLSearchParams(query ?? '').get('at');
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
  // The whitelist page is left alone: it may show a token once.
  if (token() && route !== '/login' && route !== '/whitelist') timer = setTimeout(show, 30000);
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

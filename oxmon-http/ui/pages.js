// The pages. Everything that comes from agents (ids, labels, metric names,
// messages) is put in the page as text, never as HTML.

import { api, setToken } from './api.js';
import { t } from './i18n.js';

// An element with attributes and children (strings become text nodes).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'className') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, digits = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function ago(iso) {
  if (!iso) return t('never');
  const secs = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (secs < 90) return `${secs} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} d`;
}

export function loginPage(view, onLogin) {
  const error = el('p', { className: 'error', role: 'alert' });
  const user = el('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, value: 'admin' });
  const pass = el('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = el('form', { id: 'login', className: 'card narrow' },
    el('h1', {}, t('login')),
    el('label', {}, t('username'), user),
    el('label', {}, t('password'), pass),
    el('button', { type: 'submit' }, t('login')),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const answer = await api('POST', '/v1/auth/login', { username: user.value, password: pass.value });
      setToken(answer.token);
      onLogin();
    } catch (err) {
      error.textContent = `${t('loginFailed')}: ${err.message}`;
    }
  });
  view.replaceChildren(form);
  pass.focus();
}

// The fleet: every agent with status, last seen and its newest CPU,
// memory, disk and load, sortable and filterable; firing alerts by
// severity.
export async function overviewPage(view) {
  const fleet = await api('GET', '/v1/agents/overview');
  const rows = fleet.agents.map((a) => ({
    id: a.agent_id,
    active: a.active,
    lastSeen: a.last_seen,
    cpu: a.cpu ?? undefined,
    memory: a.memory ?? undefined,
    disk: a.disk ?? undefined,
    load: a.load ?? undefined,
  }));
  const counts = fleet.firing;

  let sortKey = 'id';
  let ascending = true;
  const filter = el('input', { id: 'filter', type: 'search', placeholder: t('filter') });
  const body = el('tbody');
  const columns = [
    ['id', t('agent')], ['active', t('status')], ['lastSeen', t('lastSeen')],
    ['cpu', t('cpu')], ['memory', t('memory')], ['disk', t('disk')], ['load', t('load')],
  ];
  const render = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = rows
      .filter((r) => !needle || r.id.toLowerCase().includes(needle))
      .sort((a, b) => {
        const x = a[sortKey] ?? -Infinity;
        const y = b[sortKey] ?? -Infinity;
        const order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
    body.replaceChildren(...shown.map((r) => el('tr', { 'data-agent': r.id },
      el('td', {}, el('a', { href: `#/agent/${encodeURIComponent(r.id)}` }, r.id)),
      el('td', {}, el('span', { className: r.active ? 'ok' : 'bad' }, r.active ? t('active') : t('inactive'))),
      el('td', {}, ago(r.lastSeen)),
      el('td', { className: 'num' }, fmt(r.cpu)),
      el('td', { className: 'num' }, fmt(r.memory)),
      el('td', { className: 'num' }, fmt(r.disk)),
      el('td', { className: 'num' }, fmt(r.load, 2)))));
  };
  filter.addEventListener('input', render);
  const head = el('tr', {}, columns.map(([key, label]) => el('th', {
    onclick: () => {
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      render();
    },
  }, label)));
  render();
  view.replaceChildren(
    el('section', { className: 'summary' },
      el('div', { className: 'card' }, el('b', {}, String(rows.length)), ' ', t('agents')),
      el('div', { className: 'card' }, t('firing'), ': ',
        ['critical', 'warning', 'info'].map((s) => el('span', { className: `sev ${s}` }, `${t(s)} ${counts[s]}`)))),
    filter,
    rows.length
      ? el('table', { id: 'fleet' }, el('thead', {}, head), body)
      : el('p', {}, t('noAgents')));
}

const RANGES = [['1h', 3600], ['6h', 21600], ['24h', 86400], ['7d', 604800]];

const CHARTS = [
  { metric: 'cpu.usage', title: 'cpuChart' },
  { metric: 'memory.used_percent', title: 'memoryChart' },
  { metric: 'disk.used_percent', title: 'diskChart', by: 'mount' },
  { metric: ['load.load_1', 'load.load_5', 'load.load_15'], title: 'loadChart' },
  { metric: 'network.bytes_recv', title: 'netChart', by: 'interface' },
];

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];

// Series from the API as uPlot data: the union of timestamps (seconds),
// one column per series, gaps as null.
function columns(series) {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => Date.parse(p.timestamp) / 1000)))]
    .sort((a, b) => a - b);
  const index = new Map(times.map((x, i) => [x, i]));
  const data = [times];
  for (const s of series) {
    const column = new Array(times.length).fill(null);
    for (const p of s.points) column[index.get(Date.parse(p.timestamp) / 1000)] = p.value;
    data.push(column);
  }
  return data;
}

function seriesName(s, by) {
  if (by && s.labels[by] !== undefined) return s.labels[by];
  const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',');
  return labels ? `${s.metric}{${labels}}` : s.metric;
}

// One agent: charts of every metric family over a range, its firing alerts.
export async function agentPage(view, agentId, state) {
  const span = (RANGES.find(([label]) => label === state.range) ?? RANGES[0])[1];
  // Centred on `state.at` (an alert's time) when given, else ending now.
  const at = state.at ? Date.parse(state.at) : NaN;
  const to = new Date(Number.isFinite(at) ? Math.min(Date.now(), at + (span * 1000) / 2) : Date.now());
  const from = new Date(to.getTime() - span * 1000);
  // About 600 points per series whatever the range.
  const step = Math.max(10, Math.round(span / 600));
  const query = (metric) => api('GET', `/v1/metrics?agent=${encodeURIComponent(agentId)}&metric=${encodeURIComponent(metric)}`
    + `&from=${from.toISOString()}&to=${to.toISOString()}&step=${step}`);
  const ranges = el('div', { className: 'ranges' }, t('range'), ' ',
    RANGES.map(([label, secs]) => el('button', {
      type: 'button', className: secs === span ? 'on' : '', 'data-range': label,
      onclick: () => { location.hash = `#/agent/${encodeURIComponent(agentId)}?range=${label}`; },
    }, label)));
  const grid = el('div', { className: 'charts' });
  const alerts = el('div', { id: 'agent-alerts' });
  view.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, `← ${t('back')}`)),
    el('h1', {}, agentId),
    ranges, el('p', { className: 'hint' }, t('refresh')), alerts, grid);

  window.oxmon.charts = {};
  await Promise.all(CHARTS.map(async (c) => {
    const metrics = Array.isArray(c.metric) ? c.metric : [c.metric];
    // In the order of CHARTS, whichever answers first.
    const box = el('figure', { className: 'chart', 'data-metric': metrics[0] }, el('figcaption', {}, t(c.title)));
    grid.append(box);
    const series = (await Promise.all(metrics.map((m) => query(m).catch(() => [])))).flat();
    if (!series.length) {
      box.append(el('p', { className: 'hint' }, t('noData')));
      return;
    }
    const opts = {
      width: Math.min(560, Math.max(320, grid.clientWidth / 2 - 24)),
      height: 220,
      series: [{}, ...series.map((s, i) => ({
        label: seriesName(s, c.by), stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
      }))],
      // The whole range on the x axis, however few points it has.
      scales: { x: { time: true, range: () => [from.getTime() / 1000, to.getTime() / 1000] } },
      axes: [{}, { size: 60 }],
    };
    window.oxmon.charts[metrics[0]] = new window.uPlot(opts, columns(series), box);
  }));

  const firing = (await api('GET', '/v1/alerts/active').catch(() => []))
    .filter((a) => a.agent_id === agentId);
  alerts.replaceChildren(firing.length
    ? el('table', {}, el('thead', {}, el('tr', {}, [t('rule'), t('severity'), t('since'), t('value'), t('message')].map((h) => el('th', {}, h)))),
      el('tbody', {}, firing.map((a) => el('tr', {},
        el('td', {}, a.rule), el('td', {}, el('span', { className: `sev ${a.severity}` }, t(a.severity))),
        el('td', {}, ago(a.since)), el('td', { className: 'num' }, fmt(a.value, 2)), el('td', {}, a.message)))))
    : el('p', { className: 'hint' }, t('noAlerts')));
}

// An event handler running `work`, its failure shown in `message` (a
// form's submit is not sent).
function guarded(message) {
  return (work) => async (e) => {
    e?.preventDefault?.();
    message.textContent = '';
    try {
      await work();
    } catch (err) {
      message.textContent = `${t('error')}: ${err.message}`;
    }
  };
}

function agentLink(id) {
  return el('a', { href: `#/agent/${encodeURIComponent(id)}` }, id);
}

// What is firing now (acknowledge, resolve) and the history.
export async function alertsPage(view, rerender) {
  const [active, history] = await Promise.all([
    api('GET', '/v1/alerts/active'),
    api('GET', '/v1/alerts/history?limit=100'),
  ]);
  const message = el('p', { className: 'error', role: 'alert' });
  const act = (alert, action) => guarded(message)(async () => {
    await api('POST', `/v1/alerts/${encodeURIComponent(alert.id)}/${action}`);
    await rerender();
  });
  const activeTable = active.length
    ? el('table', { id: 'active-alerts' },
      el('thead', {}, el('tr', {}, [t('agent'), t('rule'), t('severity'), t('since'), t('value'), t('message'), ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, active.map((a) => el('tr', { 'data-alert': a.id },
        el('td', {}, agentLink(a.agent_id)), el('td', {}, a.rule),
        el('td', {}, el('span', { className: `sev ${a.severity}` }, t(a.severity))),
        el('td', {}, ago(a.since)), el('td', { className: 'num' }, fmt(a.value, 2)), el('td', {}, a.message),
        el('td', {},
          a.acknowledged_by
            ? el('span', { className: 'hint acked' }, `${t('acknowledgedBy')} ${a.acknowledged_by}`)
            : el('button', { type: 'button', className: 'ack', onclick: act(a, 'acknowledge') }, t('acknowledge')),
          ' ',
          el('button', { type: 'button', className: 'resolve', onclick: act(a, 'resolve') }, t('resolve')))))))
    : el('p', { className: 'hint' }, t('noAlerts'));
  const historyTable = el('table', { id: 'alert-history' },
    el('thead', {}, el('tr', {}, [t('time'), t('agent'), t('rule'), t('severity'), t('status'), t('value'), t('message')].map((h) => el('th', {}, h)))),
    el('tbody', {}, history.events.map((e) => el('tr', {},
      el('td', {}, new Date(e.timestamp).toLocaleString()),
      el('td', {}, el('a', {
        className: 'at-time',
        href: `#/agent/${encodeURIComponent(e.agent_id)}?range=6h&at=${encodeURIComponent(e.timestamp)}`,
      }, e.agent_id)), el('td', {}, e.rule),
      el('td', {}, el('span', { className: `sev ${e.severity}` }, t(e.severity))),
      el('td', {}, t(e.status === 'firing' ? 'firingStatus' : 'resolved')), el('td', { className: 'num' }, fmt(e.value, 2)), el('td', {}, e.message)))));
  view.replaceChildren(el('h1', {}, t('alerts')), message, el('h2', {}, t('firing')), activeTable,
    el('h2', {}, t('history')), historyTable);
}

// The agent whitelist: add (the token is shown once), new token, delete.
export async function whitelistPage(view, rerender) {
  const entries = await api('GET', '/v1/agents/whitelist');
  const message = el('p', { className: 'error', role: 'alert' });
  const secret = el('div', { id: 'new-token' });
  // Into the page shown now (an add re-renders the list first).
  const showToken = (answer) => {
    (document.getElementById('new-token') ?? secret).replaceChildren(el('div', { className: 'card token' },
      el('p', {}, `${t('tokenOnce')} ${answer.agent_id}:`),
      el('code', { id: 'token-value' }, answer.token)));
  };
  const guard = guarded(message);
  const id = el('input', { id: 'new-agent', required: true, placeholder: 'web-01' });
  const description = el('input', { id: 'new-description', placeholder: t('description') });
  const form = el('form', { id: 'add-agent', className: 'inline' }, id, description,
    el('button', { type: 'submit' }, t('add')));
  form.addEventListener('submit', guard(async () => {
    const body = { agent_id: id.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    const answer = await api('POST', '/v1/agents/whitelist', body);
    await rerender();
    showToken(answer);
  }));
  const rows = entries.map((w) => el('tr', { 'data-agent': w.agent_id },
    el('td', {}, agentLink(w.agent_id)), el('td', {}, w.description ?? ''),
    el('td', {}, ago(w.last_seen)), el('td', {}, new Date(w.created_at).toLocaleString()),
    el('td', {},
      el('button', { type: 'button', onclick: guard(async () => {
        const answer = await api('POST', `/v1/agents/whitelist/${encodeURIComponent(w.agent_id)}/token`);
        showToken(answer);
      }) }, t('newToken')), ' ',
      el('button', { type: 'button', onclick: guard(async () => {
        if (!confirm(`${t('delete')} ${w.agent_id}?`)) return;
        await api('DELETE', `/v1/agents/whitelist/${encodeURIComponent(w.agent_id)}`);
        await rerender();
      }) }, t('delete')))));
  view.replaceChildren(el('h1', {}, t('whitelist')), el('p', { className: 'hint' }, t('whitelistHint')),
    form, message, secret,
    el('table', { id: 'whitelist' },
      el('thead', {}, el('tr', {}, [t('agent'), t('description'), t('lastSeen'), t('created'), ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows)));
}

// Certificates: every monitored domain with days left, validity and why
// not; add, check now, delete, and the chain of the last check.
export async function certificatesPage(view, rerender) {
  const [domains, results] = await Promise.all([
    api('GET', '/v1/certs/domains?limit=1000'),
    api('GET', '/v1/certs/status'),
  ]);
  const latest = new Map(results.map((r) => [r.domain_id, r]));
  const message = el('p', { className: 'error', role: 'alert' });
  const chainBox = el('div', { id: 'chain' });
  const guard = guarded(message);
  const domain = el('input', { id: 'new-domain', required: true, placeholder: 'example.com' });
  const port = el('input', { id: 'new-port', type: 'number', min: 1, max: 65535, placeholder: '443' });
  const form = el('form', { id: 'add-domain', className: 'inline' }, domain, port, el('button', { type: 'submit' }, t('add')));
  form.addEventListener('submit', guard(async () => {
    const body = { domain: domain.value.trim() };
    if (port.value) body.port = Number(port.value);
    await api('POST', '/v1/certs/domains', body);
    await rerender();
  }));
  const showChain = (d) => guard(async () => {
    const chain = await api('GET', `/v1/certificates/${encodeURIComponent(d.domain)}/chain`);
    chainBox.replaceChildren(el('div', { className: 'card' },
      el('h2', {}, `${t('chain')}: ${chain.domain}:${chain.port}`),
      el('p', {}, chain.chain_valid ? el('span', { className: 'ok' }, t('valid')) : el('span', { className: 'bad' }, `${t('invalid')}: ${chain.chain_error ?? ''}`)),
      el('ol', {}, chain.certificates.map((c) => el('li', {},
        el('b', {}, c.subject), el('br'), `${t('issuer')}: ${c.issuer}`, el('br'),
        `${t('validUntil')}: ${new Date(c.not_after).toLocaleString()} (${fmt(c.days_until_expiry, 0)} ${t('days')})`)))));
  });
  const rows = domains.items.map((d) => {
    const r = latest.get(d.id);
    const state = !r ? el('span', { className: 'hint' }, t('notChecked'))
      : r.is_valid ? el('span', { className: 'ok' }, t('valid'))
        : el('span', { className: 'bad' }, t('invalid'));
    return el('tr', { 'data-domain': `${d.domain}:${d.port}` },
      el('td', {}, `${d.domain}:${d.port}`),
      el('td', { className: 'num' }, r ? fmt(r.days_until_expiry, 0) : '–'),
      el('td', {}, state),
      el('td', { className: 'reason' }, r?.error ?? ''),
      el('td', {}, r ? new Date(r.checked_at).toLocaleString() : ''),
      el('td', {},
        el('button', { type: 'button', className: 'check', onclick: guard(async () => {
          await api('POST', `/v1/certs/domains/${encodeURIComponent(d.id)}/check`);
          await rerender();
        }) }, t('checkNow')), ' ',
        r?.is_valid ? el('button', { type: 'button', onclick: showChain(d) }, t('chain')) : '', ' ',
        el('button', { type: 'button', onclick: guard(async () => {
          if (!confirm(`${t('delete')} ${d.domain}:${d.port}?`)) return;
          await api('DELETE', `/v1/certs/domains/${encodeURIComponent(d.id)}`);
          await rerender();
        }) }, t('delete'))));
  });
  // Soonest to expire first.
  rows.sort((a, b) => (Number(a.children[1].textContent) || Infinity) - (Number(b.children[1].textContent) || Infinity));
  view.replaceChildren(el('h1', {}, t('certificates')), form, message,
    el('table', { id: 'certificates' },
      el('thead', {}, el('tr', {}, [t('domain'), t('daysLeft'), t('status'), t('reason'), t('checkedAt'), ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows)),
    chainBox);
}

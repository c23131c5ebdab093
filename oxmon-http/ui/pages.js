// The pages. Everything that comes from agents (ids, labels, metric names,
// messages) is put in the page as text, never as HTML.

import { api, setToken } from './api.js';
import { t } from './i18n.js';
import { agentLink, ago, el, fmt, guarded } from './dom.js';

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
  const [fleet, certs] = await Promise.all([
    api('GET', '/v1/agents/overview'),
    api('GET', '/v1/certs/status').catch(() => []),
  ]);
  const rows = fleet.agents.map((a) => ({
    trend: a.cpu_trend ?? [],
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
    ['cpu', t('cpu')], ['trend', t('cpuHour')], ['memory', t('memory')], ['disk', t('disk')], ['load', t('load')],
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
      el('td', {}, sparkline(r.trend)),
      el('td', { className: 'num' }, fmt(r.memory)),
      el('td', { className: 'num' }, fmt(r.disk)),
      el('td', { className: 'num' }, fmt(r.load, 2)))));
  };
  filter.addEventListener('input', render);
  const head = el('tr', {}, columns.map(([key, label]) => el('th', key === 'trend' ? {} : {
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
        ['critical', 'warning', 'info'].map((s) => el('span', { className: `sev ${s}` }, `${t(s)} ${counts[s]}`))),
      expiring(certs)),
    filter,
    rows.length
      ? el('table', { id: 'fleet' }, el('thead', {}, head), body)
      : el('p', {}, t('noAgents')));
}

// A small line of `values` (0 to 100, nulls are gaps) as SVG.
function sparkline(values) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 60 20');
  const step = values.length > 1 ? 60 / (values.length - 1) : 0;
  let points = [];
  const flush = () => {
    // A lone value is a short dash.
    if (points.length === 1) points.push([points[0][0] + 2, points[0][1]]);
    if (points.length) {
      const line = document.createElementNS(ns, 'polyline');
      line.setAttribute('points', points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
      svg.append(line);
    }
    points = [];
  };
  values.forEach((v, i) => {
    if (typeof v === 'number') points.push([i * step, 19 - Math.min(100, Math.max(0, v)) * 0.18]);
    else flush();
  });
  flush();
  return svg;
}

// Certificates that are invalid or expire within 30 days, soonest first.
function expiring(results) {
  const soon = results
    .filter((r) => !r.is_valid || (r.days_until_expiry ?? Infinity) <= 30)
    .sort((a, b) => (a.days_until_expiry ?? -1) - (b.days_until_expiry ?? -1));
  return el('div', { className: 'card', id: 'expiring' },
    el('a', { href: '#/certificates' }, t('expiring')), ': ',
    soon.length
      ? soon.slice(0, 5).map((r) => el('span', { className: `sev ${r.is_valid ? 'warning' : 'critical'}` },
        `${r.domain}:${r.port} ${r.is_valid ? `${fmt(r.days_until_expiry, 0)} ${t('days')}` : t('invalid')}`))
      : el('span', { className: 'hint' }, t('none')),
    soon.length > 5 ? ` +${soon.length - 5}` : '');
}

const RANGES = [['1h', 3600], ['6h', 21600], ['24h', 86400], ['7d', 604800]];

const CHARTS = [
  { metric: 'cpu.usage', title: 'cpuChart' },
  { metric: 'cpu.core_usage', title: 'coreChart', by: 'core' },
  { metric: 'memory.used_percent', title: 'memoryChart' },
  { metric: 'disk.used_percent', title: 'diskChart', by: 'mount' },
  { metric: ['load.load_1', 'load.load_5', 'load.load_15'], title: 'loadChart' },
  { metric: 'network.bytes_recv', title: 'netChart', by: 'interface' },
  { metric: 'network.bytes_sent', title: 'netSentChart', by: 'interface' },
];

// The API's longest range.
const MAX_SPAN_SECS = 31 * 86400;

// A time for a `datetime-local` input, in local time.
function localInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

// The range shown: `from`/`to` when both are given and sane, else a preset
// ending now or centred on `at` (an alert's time).
function chartRange(state) {
  const from = Date.parse(state.from ?? '');
  const to = Date.parse(state.to ?? '');
  if (Number.isFinite(from) && Number.isFinite(to) && from < to && to - from <= MAX_SPAN_SECS * 1000) {
    return { from: new Date(from), to: new Date(Math.min(to, Date.now())), preset: null };
  }
  const [preset, span] = RANGES.find(([label]) => label === state.range) ?? RANGES[0];
  const at = state.at ? Date.parse(state.at) : NaN;
  const end = new Date(Number.isFinite(at) ? Math.min(Date.now(), at + (span * 1000) / 2) : Date.now());
  return { from: new Date(end.getTime() - span * 1000), to: end, preset };
}

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
  const { from, to, preset } = chartRange(state);
  const span = Math.max(1, (to.getTime() - from.getTime()) / 1000);
  // About 600 points per series whatever the range.
  const step = Math.max(10, Math.round(span / 600));
  const query = (metric) => api('GET', `/v1/metrics?agent=${encodeURIComponent(agentId)}&metric=${encodeURIComponent(metric)}`
    + `&from=${from.toISOString()}&to=${to.toISOString()}&step=${step}`);
  const ranges = el('div', { className: 'ranges' }, t('range'), ' ',
    RANGES.map(([label]) => el('button', {
      type: 'button', className: label === preset ? 'on' : '', 'data-range': label,
      onclick: () => { location.hash = `#/agent/${encodeURIComponent(agentId)}?range=${label}`; },
    }, label)));
  // A custom range, in local time; the address keeps it as UTC.
  const fromInput = el('input', { id: 'range-from', type: 'datetime-local', value: localInput(from) });
  const toInput = el('input', { id: 'range-to', type: 'datetime-local', value: localInput(to) });
  const custom = el('form', { id: 'custom-range', className: 'inline' }, t('from'), fromInput, t('to'), toInput,
    el('button', { type: 'submit' }, t('show')));
  custom.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new Date(fromInput.value);
    const u = new Date(toInput.value);
    if (!(f < u)) return;
    location.hash = `#/agent/${encodeURIComponent(agentId)}?from=${f.toISOString()}&to=${u.toISOString()}`;
  });
  ranges.append(custom);
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

// What is firing now (acknowledge, resolve) and the history.
export async function alertsPage(view, rerender) {
  const [active, history] = await Promise.all([
    api('GET', '/v1/alerts/active'),
    api('GET', '/v1/alerts/history?limit=100'),
  ]);
  const message = el('p', { className: 'error', role: 'alert' });
  // What inhibits an alert, by the inhibiting alert's rule and agent.
  const inhibitor = (id) => {
    const by = active.find((x) => x.id === id);
    return by ? `${by.rule} (${by.agent_id})` : id;
  };
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
        el('td', {}, ago(a.since)), el('td', { className: 'num' }, fmt(a.value, 2)),
        el('td', {}, a.message, a.inhibited_by ? el('div', { className: 'hint inhibited' }, `${t('inhibitedBy')} ${inhibitor(a.inhibited_by)}`) : ''),
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

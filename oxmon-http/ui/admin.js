// Administration: alert rules, notification channels (with a test send),
// silences, the agent whitelist, users, API tokens, runtime settings and
// the audit log, each over its management route. What the server refuses
// is shown with the server's message (a 422 names the field).

import { api } from './api.js';
import { t } from './i18n.js';
import {
  agentLink, ago, button, el, guarded, severity, table,
} from './dom.js';

const TABS = [
  ['rules', 'rulesTab'], ['channels', 'channelsTab'], ['silences', 'silencesTab'],
  ['whitelist', 'whitelist'], ['users', 'usersTab'], ['tokens', 'tokensTab'],
  ['settings', 'settingsTab'], ['audit', 'auditTab'],
];

// The routes of the administration pages, `/rules` and so on.
export const ADMIN_ROUTES = TABS.map(([route]) => `/${route}`);

const enc = encodeURIComponent;

function tabs(current) {
  return el('nav', { id: 'admin-tabs', className: 'tabs' },
    TABS.map(([route, label]) => el('a', { href: `#/${route}`, className: route === current ? 'on' : '' }, t(label))));
}

// The frame of an administration page: its tabs, title and error line.
function frame(view, current, title, ...content) {
  view.replaceChildren(tabs(current), el('h1', {}, title), ...content);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '–';
}

// A secret the server shows once (a token), with what it is for.
function shownOnce(box, what, secret) {
  box.replaceChildren(el('div', { className: 'card token' },
    el('p', {}, `${t('tokenOnce')} ${what}:`),
    el('code', { id: 'token-value' }, secret)));
}

// A JSON editor of a definition (a rule, a channel): a template to start
// from, then save: POST a new one, PUT the one being edited.
function definitionEditor(name, templates, path, guard, rerender) {
  const title = el('h2', {}, t('newOne'));
  const text = el('textarea', { id: `${name}-json`, rows: 14, spellcheck: false, 'aria-label': 'JSON' });
  const pick = el('select', { id: `${name}-template` },
    el('option', { value: '' }, t('template')),
    Object.keys(templates).map((k) => el('option', { value: k }, k)));
  let editing = null;
  const reset = (heading) => {
    editing = null;
    title.textContent = heading;
  };
  pick.addEventListener('change', () => {
    if (!pick.value) return;
    text.value = JSON.stringify(templates[pick.value], null, 2);
    reset(t('newOne'));
  });
  const form = el('form', { id: `${name}-form`, className: 'card editor' }, title,
    el('p', { className: 'hint' }, t('editorHint')), pick, text,
    el('div', { className: 'inline' }, el('button', { type: 'submit' }, t('save')),
      button(t('cancel'), () => { text.value = ''; reset(t('newOne')); })));
  form.addEventListener('submit', guard(async () => {
    let body;
    try {
      body = JSON.parse(text.value);
    } catch (err) {
      throw new Error(`${t('badJson')}: ${err.message}`);
    }
    await api(editing ? 'PUT' : 'POST', editing ? `${path}/${enc(editing)}` : path, body);
    await rerender();
  }));
  return {
    form,
    edit(id, fields) {
      text.value = JSON.stringify(fields, null, 2);
      title.textContent = `${t('edit')}: ${fields.name ?? id}`;
      editing = id;
      form.scrollIntoView();
    },
  };
}

// `record` without the keys the API adds (id, source, times).
function fieldsOf(record, extra = []) {
  const drop = new Set(['id', 'source', 'created_at', 'updated_at', ...extra]);
  return Object.fromEntries(Object.entries(record).filter(([k, v]) => !drop.has(k) && v !== null));
}

function sourceTag(source) {
  return el('span', { className: 'hint' }, source === 'config' ? t('fromFile') : t('fromApi'));
}

const RULE_TEMPLATES = {
  threshold: {
    name: 'high-cpu', type: 'threshold', metric: 'cpu.usage', agent_pattern: '*',
    operator: 'greater_than', value: 90, duration_secs: 300, severity: 'critical', silence_secs: 600,
  },
  rate_of_change: {
    name: 'memory-spike', type: 'rate_of_change', metric: 'memory.used_percent', agent_pattern: '*',
    rate_threshold: 20, window_secs: 300, direction: 'both', severity: 'warning', silence_secs: 600,
  },
  trend_prediction: {
    name: 'disk-full-prediction', type: 'trend_prediction', metric: 'disk.used_percent', agent_pattern: '*',
    predict_threshold: 95, horizon_secs: 86400, min_data_points: 10, window_secs: 3600, severity: 'info',
  },
  cert_expiration: {
    name: 'cert-expiry', type: 'cert_expiration', metric: 'certificate.days_until_expiry',
    agent_pattern: 'cert-checker', warning_days: 30, critical_days: 7, severity: 'critical',
  },
  agent_offline: {
    name: 'agent-offline', type: 'agent_offline', agent_pattern: '*', after_secs: 120, severity: 'critical',
  },
  absent: {
    name: 'no-root-disk', type: 'absent', metric: 'disk.used_percent', labels: { mount: '/' }, after_secs: 300,
  },
};

export async function rulesPage(view, rerender) {
  const rules = await api('GET', '/v1/alerts/rules');
  const message = el('p', { className: 'error', role: 'alert' });
  const guard = guarded(message);
  const editor = definitionEditor('rule', RULE_TEMPLATES, '/v1/alerts/rules', guard, rerender);
  const rows = rules.map((r) => [
    r.name, r.type, r.metric ?? '', r.agent_pattern ?? '*', severity(r.severity),
    r.enabled === false ? el('span', { className: 'hint' }, t('disabled')) : el('span', { className: 'ok' }, t('enabled')),
    sourceTag(r.source),
    r.source === 'api' ? [
      button(r.enabled === false ? t('enable') : t('disable'), guard(async () => {
        await api('POST', `/v1/alerts/rules/${enc(r.id)}/${r.enabled === false ? 'enable' : 'disable'}`);
        await rerender();
      }), 'toggle'), ' ',
      button(t('edit'), () => editor.edit(r.id, fieldsOf(r)), 'edit'), ' ',
      button(t('delete'), guard(async () => {
        if (!confirm(`${t('delete')} ${r.name}?`)) return;
        await api('DELETE', `/v1/alerts/rules/${enc(r.id)}`);
        await rerender();
      }), 'delete'),
    ] : '',
  ]);
  frame(view, 'rules', t('rulesTab'), message,
    table('rules', [t('name'), t('type'), t('metric'), t('agentPattern'), t('severity'), t('status'), t('source'), ''],
      rows, (i) => ({ 'data-rule': rules[i].name })),
    editor.form);
}

const CHANNEL_TEMPLATES = {
  webhook: {
    type: 'webhook', name: 'ops-hook', min_severity: 'warning', send_resolved: true,
    url: 'https://hooks.example.com/oxmon', body_template: '{"text": "[{{severity}}] {{agent_id}}: {{message}}"}',
  },
  email: {
    type: 'email', name: 'ops-mail', min_severity: 'warning', smtp_host: 'smtp.example.com', smtp_port: 587,
    smtp_username: 'alerts@example.com', smtp_password: '', from: 'alerts@example.com', recipients: ['ops@example.com'],
  },
  sms: {
    type: 'sms', name: 'on-call-sms', min_severity: 'critical', gateway_url: 'https://sms-api.example.com/send',
    api_key: '', phone_numbers: ['+8613800138000'],
  },
  dingtalk: {
    type: 'dingtalk', name: 'ops-dingtalk', min_severity: 'warning',
    webhook_url: 'https://oapi.dingtalk.com/robot/send?access_token=TOKEN', secret: '',
  },
  weixin: {
    type: 'weixin', name: 'ops-wecom', min_severity: 'warning',
    webhook_url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY',
  },
};

export async function channelsPage(view, rerender) {
  const [channels, log] = await Promise.all([
    api('GET', '/v1/notifications/channels'),
    api('GET', '/v1/notifications/log?limit=20').catch(() => ({ records: [] })),
  ]);
  const message = el('p', { className: 'error', role: 'alert' });
  const result = el('div', { id: 'test-result' });
  const guard = guarded(message);
  const editor = definitionEditor('channel', CHANNEL_TEMPLATES, '/v1/notifications/channels', guard, rerender);
  const rows = channels.map((c) => [
    c.name, c.type, severity(c.min_severity),
    Object.entries(c.secrets ?? {}).map(([k, v]) => `${k}: ${t(v)}`).join(', '),
    sourceTag(c.source),
    [
      button(t('testSend'), guard(async () => {
        result.replaceChildren(el('p', { className: 'hint' }, `${t('sending')} ${c.name}…`));
        const answer = await api('POST', `/v1/notifications/channels/${enc(c.id)}/test`);
        result.replaceChildren(el('p', { className: answer.delivered ? 'ok delivered' : 'bad failed' },
          `${c.name}: ${answer.delivered ? t('delivered') : `${t('notDelivered')}: ${answer.error ?? ''}`} (${answer.duration_ms} ms)`));
      }), 'test'), ' ',
      c.source === 'api' ? [
        button(t('edit'), () => editor.edit(c.id, {
          type: c.type, name: c.name, min_severity: c.min_severity, send_resolved: c.send_resolved, ...c.settings,
        }), 'edit'), ' ',
        button(t('delete'), guard(async () => {
          if (!confirm(`${t('delete')} ${c.name}?`)) return;
          await api('DELETE', `/v1/notifications/channels/${enc(c.id)}`);
          await rerender();
        }), 'delete'),
      ] : '',
    ],
  ]);
  frame(view, 'channels', t('channelsTab'), message, result,
    table('channels', [t('name'), t('type'), t('minSeverity'), t('secrets'), t('source'), ''],
      rows, (i) => ({ 'data-channel': channels[i].name })),
    el('p', { className: 'hint' }, t('secretsHint')),
    editor.form,
    el('h2', {}, t('notificationLog')),
    table('notification-log', [t('time'), t('channel'), t('status'), t('attempt'), t('error')],
      log.records.map((r) => [when(r.attempted_at), r.channel, r.status, r.attempt, r.error ?? ''])));
}

function matcherText(m) {
  const parts = [];
  if (m.agent) parts.push(`agent=${m.agent}`);
  if (m.metric) parts.push(`metric=${m.metric}`);
  if (m.rule) parts.push(`rule=${m.rule}`);
  for (const [k, v] of Object.entries(m.labels ?? {})) parts.push(`${k}=${v}`);
  return parts.join(', ');
}

const DURATIONS = [['1h', 3600], ['4h', 14400], ['24h', 86400], ['7d', 604800]];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export async function silencesPage(view, rerender) {
  const { windows, silences } = await api('GET', '/v1/silences');
  const message = el('p', { className: 'error', role: 'alert' });
  const guard = guarded(message);

  const input = (id, placeholder) => el('input', { id, placeholder });
  const agent = input('silence-agent', 'web-*');
  const metric = input('silence-metric', 'disk.*');
  const rule = input('silence-rule', t('rule'));
  const comment = el('input', { id: 'silence-comment', placeholder: t('comment'), required: true });
  const duration = el('select', { id: 'silence-duration' }, DURATIONS.map(([label, secs]) => el('option', { value: secs }, label)));
  const add = el('form', { id: 'add-silence', className: 'inline wrap' }, agent, metric, rule, duration, comment,
    el('button', { type: 'submit' }, t('silence')));
  add.addEventListener('submit', guard(async () => {
    const matchers = {};
    for (const [key, field] of [['agent', agent], ['metric', metric], ['rule', rule]]) {
      if (field.value.trim()) matchers[key] = field.value.trim();
    }
    const endsAt = new Date(Date.now() + Number(duration.value) * 1000).toISOString();
    await api('POST', '/v1/silences', { matchers, ends_at: endsAt, comment: comment.value.trim() });
    await rerender();
  }));

  const start = el('input', { id: 'window-start', type: 'time', required: true, value: '02:00' });
  const end = el('input', { id: 'window-end', type: 'time', required: true, value: '04:00' });
  const recurrence = el('select', { id: 'window-recurrence' },
    ['daily', 'weekdays', 'weekends', 'weekly'].map((r) => el('option', { value: r }, t(r))));
  const days = DAYS.map((d) => el('label', { className: 'day' }, el('input', { type: 'checkbox', value: d }), t(d)));
  const addWindow = el('form', { id: 'add-window', className: 'inline wrap' }, start, end, recurrence, days,
    el('button', { type: 'submit' }, t('add')));
  addWindow.addEventListener('submit', guard(async () => {
    const body = { start_time: start.value, end_time: end.value, recurrence: recurrence.value };
    if (recurrence.value === 'weekly') {
      body.days = days.map((d) => d.firstChild).filter((c) => c.checked).map((c) => c.value);
    }
    await api('POST', '/v1/silences/windows', body);
    await rerender();
  }));

  frame(view, 'silences', t('silencesTab'), message,
    el('h2', {}, t('adHoc')), add,
    table('silences', [t('matches'), t('from'), t('to'), t('status'), t('by'), t('comment'), ''],
      silences.map((s) => [
        matcherText(s.matchers), when(s.starts_at), when(s.ends_at),
        s.active ? el('span', { className: 'ok' }, t('activeSilence')) : el('span', { className: 'hint' }, t('expired')),
        s.created_by, s.comment,
        s.active ? button(t('expire'), guard(async () => {
          await api('DELETE', `/v1/silences/${enc(s.id)}`);
          await rerender();
        }), 'expire') : '',
      ]), (i) => ({ 'data-silence': silences[i].id })),
    el('h2', {}, t('windows')), el('p', { className: 'hint' }, t('windowsHint')), addWindow,
    table('windows', [t('from'), t('to'), t('recurrence'), t('source'), ''],
      windows.map((w) => [
        w.start_time, w.end_time, [t(w.recurrence), w.days?.length ? ` (${w.days.map(t).join(', ')})` : ''],
        sourceTag(w.source),
        w.source === 'api' ? button(t('delete'), guard(async () => {
          await api('DELETE', `/v1/silences/windows/${enc(w.id)}`);
          await rerender();
        }), 'delete') : '',
      ])));
}

// The agent whitelist: add (the token is shown once), new token, delete.
export async function whitelistPage(view, rerender) {
  const entries = await api('GET', '/v1/agents/whitelist');
  const message = el('p', { className: 'error', role: 'alert' });
  const secret = el('div', { id: 'new-token' });
  // Into the page shown now (an add re-renders the list first).
  const showToken = (answer) => shownOnce(document.getElementById('new-token') ?? secret, answer.agent_id, answer.token);
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
  frame(view, 'whitelist', t('whitelist'), el('p', { className: 'hint' }, t('whitelistHint')),
    form, message, secret,
    table('whitelist', [t('agent'), t('description'), t('lastSeen'), t('created'), ''],
      entries.map((w) => [
        agentLink(w.agent_id), w.description ?? '', ago(w.last_seen), when(w.created_at),
        [
          button(t('newToken'), guard(async () => {
            showToken(await api('POST', `/v1/agents/whitelist/${enc(w.agent_id)}/token`));
          })), ' ',
          button(t('delete'), guard(async () => {
            if (!confirm(`${t('delete')} ${w.agent_id}?`)) return;
            await api('DELETE', `/v1/agents/whitelist/${enc(w.agent_id)}`);
            await rerender();
          })),
        ],
      ]), (i) => ({ 'data-agent': entries[i].agent_id })));
}

const ROLES = ['viewer', 'operator', 'admin'];

function roleSelect(id, selected) {
  return el('select', { id }, ROLES.map((r) => el('option', { value: r, selected: r === selected }, t(r))));
}

export async function usersPage(view, rerender) {
  const users = await api('GET', '/v1/users');
  const message = el('p', { className: 'error', role: 'alert' });
  const guard = guarded(message);
  const name = el('input', { id: 'new-user', required: true, placeholder: t('username'), autocomplete: 'off' });
  const password = el('input', { id: 'new-user-password', type: 'password', required: true, placeholder: t('password'), autocomplete: 'new-password' });
  const role = roleSelect('new-user-role', 'viewer');
  const add = el('form', { id: 'add-user', className: 'inline' }, name, password, role, el('button', { type: 'submit' }, t('add')));
  add.addEventListener('submit', guard(async () => {
    await api('POST', '/v1/users', { username: name.value.trim(), password: password.value, role: role.value });
    await rerender();
  }));
  const update = (u, body) => guard(async () => {
    await api('PUT', `/v1/users/${enc(u.username)}`, body);
    await rerender();
  });
  frame(view, 'users', t('usersTab'), el('p', { className: 'hint' }, t('rolesHint')), add, message,
    table('users', [t('username'), t('role'), t('status'), t('created'), ''],
      users.map((u) => {
        const change = roleSelect(`role-${u.username}`, u.role);
        change.addEventListener('change', (e) => update(u, { role: change.value })(e));
        return [
          u.username, change,
          u.disabled ? el('span', { className: 'bad' }, t('disabled')) : el('span', { className: 'ok' }, t('enabled')),
          when(u.created_at),
          [
            button(u.disabled ? t('enable') : t('disable'), update(u, { disabled: !u.disabled }), 'toggle'), ' ',
            button(t('setPassword'), () => {
              const next = prompt(`${t('setPassword')}: ${u.username}`);
              if (next) update(u, { password: next })();
            }), ' ',
            button(t('delete'), guard(async () => {
              if (!confirm(`${t('delete')} ${u.username}?`)) return;
              await api('DELETE', `/v1/users/${enc(u.username)}`);
              await rerender();
            }), 'delete'),
          ],
        ];
      }), (i) => ({ 'data-user': users[i].username })));
}

const EXPIRIES = [['never', null], ['30d', 30 * 86400], ['90d', 90 * 86400], ['365d', 365 * 86400]];

export async function tokensPage(view, rerender) {
  const tokens = await api('GET', '/v1/auth/tokens');
  const message = el('p', { className: 'error', role: 'alert' });
  const secret = el('div', { id: 'new-token' });
  const guard = guarded(message);
  const name = el('input', { id: 'new-token-name', required: true, placeholder: 'grafana' });
  const role = roleSelect('new-token-role', 'viewer');
  const expiry = el('select', { id: 'new-token-expiry' }, EXPIRIES.map(([label, secs]) => el('option', { value: secs ?? '' }, t(label))));
  const add = el('form', { id: 'add-token', className: 'inline' }, name, role, expiry, el('button', { type: 'submit' }, t('create')));
  add.addEventListener('submit', guard(async () => {
    const body = { name: name.value.trim(), role: role.value };
    if (expiry.value) body.expires_in_secs = Number(expiry.value);
    const answer = await api('POST', '/v1/auth/tokens', body);
    await rerender();
    shownOnce(document.getElementById('new-token') ?? secret, answer.name, answer.token);
  }));
  frame(view, 'tokens', t('tokensTab'), el('p', { className: 'hint' }, t('tokensHint')), add, message, secret,
    table('tokens', [t('name'), t('username'), t('role'), t('created'), t('expires'), t('lastUsed'), ''],
      tokens.map((k) => [
        k.name, k.username, t(k.role), when(k.created_at), k.expires_at ? when(k.expires_at) : t('never'),
        k.last_used_at ? when(k.last_used_at) : t('never'),
        button(t('revoke'), guard(async () => {
          if (!confirm(`${t('revoke')} ${k.name}?`)) return;
          await api('DELETE', `/v1/auth/tokens/${enc(k.id)}`);
          await rerender();
        }), 'revoke'),
      ]), (i) => ({ 'data-token': tokens[i].name })));
}

// An input for a setting's value of the same kind as its current one.
function settingInput(s) {
  const id = `setting-${s.key}`;
  if (typeof s.value === 'boolean') return el('input', { id, type: 'checkbox', checked: s.value });
  if (typeof s.value === 'number') return el('input', { id, type: 'number', step: 'any', value: s.value });
  return el('input', { id, value: s.value ?? '' });
}

function inputValue(input) {
  if (input.type === 'checkbox') return input.checked;
  if (input.type === 'number') return Number(input.value);
  return input.value;
}

export async function settingsPage(view, rerender) {
  const settings = await api('GET', '/v1/settings');
  const message = el('p', { className: 'error', role: 'alert' });
  const guard = guarded(message);
  const inputs = new Map(settings.map((s) => [s.key, settingInput(s)]));
  // What each input showed at first (an unset time zone shows as empty).
  const shown = new Map([...inputs].map(([key, input]) => [key, JSON.stringify(inputValue(input))]));
  const save = el('form', { id: 'settings-form' });
  save.addEventListener('submit', guard(async () => {
    // Only what changed: all or nothing on the server.
    const body = {};
    for (const [key, input] of inputs) {
      if (JSON.stringify(inputValue(input)) !== shown.get(key)) body[key] = inputValue(input);
    }
    if (Object.keys(body).length) await api('PUT', '/v1/settings', body);
    await rerender();
  }));
  save.append(
    table('settings', [t('setting'), t('value'), t('source'), t('fileValue'), t('updated'), ''],
      settings.map((s) => [
        el('code', {}, s.key), inputs.get(s.key),
        el('span', { className: 'hint source' }, s.source === 'config' ? t('fileOrDefault') : t('fromApi')),
        s.file_value === null || s.file_value === undefined ? '–' : String(s.file_value), when(s.updated_at),
        s.source === 'api' ? button(t('resetToFile'), guard(async () => {
          await api('PUT', '/v1/settings', { [s.key]: null });
          await rerender();
        }), 'reset') : '',
      ]), (i) => ({ 'data-setting': settings[i].key })),
    el('p', {}, el('button', { type: 'submit' }, t('save'))));
  frame(view, 'settings', t('settingsTab'), el('p', { className: 'hint' }, t('settingsHint')), message, save);
}

const AUDIT_PAGE = 50;

export async function auditPage(view, rerender, state) {
  const params = new URLSearchParams({ limit: AUDIT_PAGE, offset: state.offset ?? 0 });
  if (state.actor) params.set('actor', state.actor);
  if (state.action) params.set('action', state.action);
  const page = await api('GET', `/v1/audit?${params}`);
  const actor = el('input', { id: 'audit-actor', placeholder: t('actor'), value: state.actor ?? '' });
  const action = el('input', { id: 'audit-action', placeholder: 'rule.', value: state.action ?? '' });
  const filter = el('form', { id: 'audit-filter', className: 'inline' }, actor, action, el('button', { type: 'submit' }, t('filterButton')));
  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    Object.assign(state, { actor: actor.value.trim(), action: action.value.trim(), offset: 0 });
    rerender();
  });
  const move = (offset) => () => {
    state.offset = Math.max(0, offset);
    rerender();
  };
  const change = (v) => (v === null || v === undefined ? '' : el('details', {}, el('summary', {}, t('show')),
    el('pre', {}, JSON.stringify(v, null, 2))));
  frame(view, 'audit', t('auditTab'), filter,
    table('audit', [t('time'), t('actor'), t('action'), t('target'), t('before'), t('after')],
      page.records.map((r) => [when(r.at), r.actor, el('code', {}, r.action), r.target ?? '', change(r.before), change(r.after)])),
    el('p', { className: 'inline' },
      `${page.total === 0 ? 0 : page.offset + 1}–${page.offset + page.records.length} / ${page.total}`, ' ',
      page.offset > 0 ? button('←', move(page.offset - AUDIT_PAGE)) : '',
      page.offset + page.records.length < page.total ? button('→', move(page.offset + AUDIT_PAGE)) : ''));
}

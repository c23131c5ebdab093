// English and 中文; the choice is kept in localStorage.

const TEXT = {
  en: {
    login: 'Log in', logout: 'Log out', username: 'Username', password: 'Password',
    loginFailed: 'Login failed', fleet: 'Fleet', alerts: 'Alerts', agent: 'Agent',
    status: 'Status', lastSeen: 'Last seen', cpu: 'CPU %', memory: 'Memory %',
    disk: 'Disk %', load: 'Load (1 m)', active: 'active', inactive: 'silent',
    never: 'never', filter: 'Filter agents', agents: 'agents', firing: 'Firing alerts',
    critical: 'critical', warning: 'warning', info: 'info', noAgents: 'No agent has reported yet.',
    range: 'Range', refresh: 'Auto-refresh every 30 s', noData: 'No data in this range.',
    cpuChart: 'CPU usage %', memoryChart: 'Memory used %', diskChart: 'Disk used % by mount',
    loadChart: 'Load average', netChart: 'Network bytes received per second by interface',
    rule: 'Rule', severity: 'Severity', since: 'Since', value: 'Value', message: 'Message',
    noAlerts: 'Nothing is firing.', back: 'Fleet', other: '中文', error: 'Error',
    acknowledge: 'Acknowledge', acknowledgedBy: 'acknowledged by', resolve: 'Resolve',
    history: 'History', time: 'Time', firingStatus: 'firing', resolved: 'resolved',
    whitelist: 'Agent whitelist', whitelistHint: 'Agents allowed to report when require_agent_auth is on. A token is shown once.',
    description: 'Description', add: 'Add', newToken: 'New token', delete: 'Delete', created: 'Added',
    tokenOnce: 'Token (shown once; put it in the agent\'s auth_token) for',
    certificates: 'Certificates', domain: 'Domain', daysLeft: 'Days left', reason: 'Why not',
    checkedAt: 'Checked', checkNow: 'Check now', chain: 'Chain', valid: 'valid', invalid: 'invalid',
    notChecked: 'not checked yet', issuer: 'Issuer', validUntil: 'Valid until', days: 'days',
    cpuHour: 'CPU, last hour', coreChart: 'CPU usage % per core', netSentChart: 'Network bytes sent per second by interface',
    from: 'from', to: 'to', show: 'Show', expiring: 'Certificates expiring within 30 days', none: 'none',
    adminNav: 'Administration', rulesTab: 'Alert rules', channelsTab: 'Channels', silencesTab: 'Silences',
    usersTab: 'Users', tokensTab: 'API tokens', settingsTab: 'Settings', auditTab: 'Audit log',
    name: 'Name', type: 'Type', metric: 'Metric', agentPattern: 'Agents', source: 'Defined in',
    fromFile: 'server.toml (read-only)', fromApi: 'API', fileOrDefault: 'server.toml or default', enabled: 'enabled', disabled: 'disabled',
    enable: 'Enable', disable: 'Disable', edit: 'Edit', save: 'Save', cancel: 'Cancel', create: 'Create',
    newOne: 'New', template: 'Start from a template…', badJson: 'Not valid JSON',
    editorHint: 'The fields of a server.toml entry as JSON; the server checks them and names a refused field.',
    minSeverity: 'Min. severity', secrets: 'Secrets', set: 'set', unset: 'unset',
    secretsHint: 'Secrets are never shown. Editing: leave a secret out to keep it, set it to null to clear it.',
    testSend: 'Test send', sending: 'Sending a test notification through', delivered: 'delivered',
    notDelivered: 'not delivered', notificationLog: 'Notification log', channel: 'Channel', attempt: 'Attempt',
    adHoc: 'Silences', silence: 'Silence', comment: 'Comment', matches: 'Matches', by: 'By',
    activeSilence: 'active', expired: 'expired', expire: 'Expire now', windows: 'Recurring windows',
    windowsHint: 'Nothing is sent at these local times (the server\'s notification time zone).',
    recurrence: 'Recurrence', daily: 'daily', weekdays: 'weekdays', weekends: 'weekends', weekly: 'weekly',
    mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun',
    role: 'Role', viewer: 'viewer', operator: 'operator', admin: 'admin', setPassword: 'Set password',
    rolesHint: 'viewer: reads; operator: also acknowledges, resolves and silences; admin: everything.',
    tokensHint: 'Long-lived tokens for scripts and Grafana (Authorization: Bearer oxm_…). A token is shown once.',
    expires: 'Expires', lastUsed: 'Last used', revoke: 'Revoke', '30d': '30 days', '90d': '90 days', '365d': '1 year',
    setting: 'Setting', fileValue: 'server.toml', updated: 'Changed', resetToFile: 'Back to server.toml',
    settingsHint: 'Applied to the running server at once and kept across restarts.',
    actor: 'Who', action: 'Action', target: 'Target', before: 'Before', after: 'After', filterButton: 'Filter',
    inhibitedBy: 'not notified while this fires:',
  },
  zh: {
    login: '登录', logout: '退出', username: '用户名', password: '密码',
    loginFailed: '登录失败', fleet: '主机总览', alerts: '告警', agent: '主机',
    status: '状态', lastSeen: '最后上报', cpu: 'CPU %', memory: '内存 %',
    disk: '磁盘 %', load: '负载 (1 分钟)', active: '在线', inactive: '失联',
    never: '从未', filter: '筛选主机', agents: '台主机', firing: '正在告警',
    critical: '严重', warning: '警告', info: '提示', noAgents: '还没有主机上报数据。',
    range: '时间范围', refresh: '每 30 秒自动刷新', noData: '该时间范围内没有数据。',
    cpuChart: 'CPU 使用率 %', memoryChart: '内存使用率 %', diskChart: '各挂载点磁盘使用率 %',
    loadChart: '系统负载', netChart: '各网卡每秒接收字节',
    rule: '规则', severity: '级别', since: '开始于', value: '数值', message: '信息',
    noAlerts: '当前没有告警。', back: '主机总览', other: 'English', error: '错误',
    acknowledge: '确认', acknowledgedBy: '已确认：', resolve: '解决',
    history: '历史', time: '时间', firingStatus: '告警中', resolved: '已恢复',
    whitelist: 'Agent 白名单', whitelistHint: '开启 require_agent_auth 时允许上报的 Agent。令牌只显示一次。',
    description: '描述', add: '添加', newToken: '重新生成令牌', delete: '删除', created: '添加于',
    tokenOnce: '令牌（只显示一次，填入 Agent 的 auth_token）：',
    certificates: '证书', domain: '域名', daysLeft: '剩余天数', reason: '原因',
    checkedAt: '检测时间', checkNow: '立即检测', chain: '证书链', valid: '有效', invalid: '无效',
    notChecked: '尚未检测', issuer: '签发者', validUntil: '有效期至', days: '天',
    cpuHour: '近 1 小时 CPU', coreChart: '各核心 CPU 使用率 %', netSentChart: '各网卡每秒发送字节',
    from: '从', to: '到', show: '查看', expiring: '30 天内到期的证书', none: '无',
    adminNav: '系统管理', rulesTab: '告警规则', channelsTab: '通知渠道', silencesTab: '静默',
    usersTab: '用户', tokensTab: 'API 令牌', settingsTab: '运行时设置', auditTab: '审计日志',
    name: '名称', type: '类型', metric: '指标', agentPattern: '主机', source: '定义于',
    fromFile: 'server.toml（只读）', fromApi: 'API', fileOrDefault: 'server.toml 或默认值', enabled: '已启用', disabled: '已禁用',
    enable: '启用', disable: '禁用', edit: '编辑', save: '保存', cancel: '取消', create: '创建',
    newOne: '新建', template: '从模板开始…', badJson: 'JSON 格式错误',
    editorHint: '以 JSON 填写 server.toml 中该条目的字段；服务端校验并指出被拒绝的字段。',
    minSeverity: '最低级别', secrets: '密钥', set: '已设置', unset: '未设置',
    secretsHint: '密钥从不显示。编辑时省略密钥即保留原值，设为 null 即清除。',
    testSend: '测试发送', sending: '正在发送测试通知：', delivered: '已送达',
    notDelivered: '未送达', notificationLog: '通知记录', channel: '渠道', attempt: '尝试次数',
    adHoc: '静默', silence: '静默', comment: '备注', matches: '匹配', by: '创建者',
    activeSilence: '生效中', expired: '已过期', expire: '立即结束', windows: '周期性静默时段',
    windowsHint: '在这些本地时间（服务端通知时区）不发送任何通知。',
    recurrence: '重复', daily: '每天', weekdays: '工作日', weekends: '周末', weekly: '每周',
    mon: '周一', tue: '周二', wed: '周三', thu: '周四', fri: '周五', sat: '周六', sun: '周日',
    role: '角色', viewer: '只读', operator: '运维', admin: '管理员', setPassword: '设置密码',
    rolesHint: '只读：查看；运维：还可确认、解决和静默告警；管理员：全部权限。',
    tokensHint: '供脚本和 Grafana 使用的长期令牌（Authorization: Bearer oxm_…）。令牌只显示一次。',
    expires: '过期时间', lastUsed: '最后使用', revoke: '吊销', '30d': '30 天', '90d': '90 天', '365d': '1 年',
    setting: '设置项', fileValue: 'server.toml', updated: '修改于', resetToFile: '恢复为 server.toml',
    settingsHint: '立即应用到运行中的服务端，重启后仍然保留。',
    actor: '操作者', action: '操作', target: '对象', before: '修改前', after: '修改后', filterButton: '筛选',
    inhibitedBy: '被抑制（不发送通知），因为正在告警：',
  },
};

let lang = localStorage.getItem('oxmon.lang') === 'zh' ? 'zh' : 'en';

export function t(key) {
  return TEXT[lang][key] ?? key;
}

export function language() {
  return lang;
}

export function toggleLanguage() {
  lang = lang === 'en' ? 'zh' : 'en';
  localStorage.setItem('oxmon.lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

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
    loadChart: 'Load average', netChart: 'Network bytes received by interface',
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
    loadChart: '系统负载', netChart: '各网卡接收字节',
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

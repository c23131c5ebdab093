// Building the page: elements from data (always as text), numbers and
// times for people, and event handlers that show their failure.

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
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmt(value, digits = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

export function ago(iso) {
  if (!iso) return t('never');
  const secs = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (secs < 90) return `${secs} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} d`;
}

// An event handler running `work`, its failure shown in `message` (a
// form's submit is not sent).
export function guarded(message) {
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

export function agentLink(id) {
  return el('a', { href: `#/agent/${encodeURIComponent(id)}` }, id);
}

// A table of `headers` over `rows` (each an array of cells).
export function table(id, headers, rows, rowAttrs = () => ({})) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((cells, i) => el('tr', rowAttrs(i), cells.map((c) => el('td', {}, c))))));
}

// A button running `onclick`.
export function button(label, onclick, className) {
  return el('button', { type: 'button', className, onclick }, label);
}

// A severity as a coloured tag.
export function severity(s) {
  return el('span', { className: `sev ${s}` }, t(s));
}

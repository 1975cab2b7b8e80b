// DOM helpers. Every value from the server becomes a text node or an attribute value: nothing the
// ledger holds (payloads, errors, reasons) is ever parsed as HTML.

/**
 * h('a', { href: '/x', class: 'c', on: { click: fn } }, 'text', child) -> element.
 * Children: strings and numbers become text nodes, null/undefined/false are skipped, arrays flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (name === 'checked' || name === 'value' || name === 'disabled' || name === 'selected') el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export function formatTime(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** A JSON value as indented text, for a <pre>. */
export function json(value) {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

export function statusBadge(status) {
  return h('span', { class: `badge s-${String(status).replace(/[^a-z_]/g, '')}` }, status);
}

/** A table: columns [{ label, cell(row) -> node|string }]. */
export function table(caption, columns, rows, empty = 'Nothing here.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', {}, c.cell(row)))))),
  );
}

/** A labelled control: <label for=id>text</label> + control with that id. */
export function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/**
 * An operator's form: a required reason and one button. `submit(reason)` runs the action and returns
 * the line to show; an error's message is shown instead.
 */
export function reasonForm({ label, id, button, submit }) {
  const reason = h('input', { id: `${id}-reason`, name: 'reason', required: true, maxlength: 2000 });
  const message = h('p', { role: 'status', id: `${id}-outcome` });
  const onSubmit = async (event) => {
    event.preventDefault();
    message.textContent = '';
    try {
      message.textContent = await submit(reason.value.trim());
      reason.value = '';
    } catch (error) {
      message.textContent = error.message;
    }
  };
  return h(
    'form',
    { class: 'actions', 'aria-label': label, on: { submit: onSubmit } },
    field(`Reason to ${button.toLowerCase()} (required)`, reason),
    h('button', { type: 'submit', id: `${id}-button` }, button),
    message,
  );
}

// The console's entry: the session, the router, the API client and the polling refresh.
import { h, replace } from './dom.js';
import { renderOverview } from './pages/overview.js';
import { renderJobs } from './pages/jobs.js';
import { renderJob } from './pages/job.js';
import { renderRuns, renderRun } from './pages/runs.js';
import { renderPipelines, renderPipeline } from './pages/pipelines.js';
import { renderLogin } from './pages/login.js';
import { renderNamespaces, renderNamespace } from './pages/state.js';
import { renderMaintenance } from './pages/maintenance.js';
import { renderAudit } from './pages/audit.js';
import { renderReplays } from './pages/replays.js';

const base = document.querySelector('meta[name="jobledger-base"]').content;
const main = document.getElementById('main');
const statusLine = document.getElementById('status');
/** How often a visible page refreshes its data. */
const refreshMs = 5000;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

const app = {
  base,
  session: null,
  /** Operators see actions; viewers do not. */
  get canAct() {
    return this.session?.role === 'operator';
  },
  async api(path, options = {}) {
    const headers = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.method && options.method !== 'GET' && this.session?.csrf) headers['x-jobledger-csrf'] = this.session.csrf;
    const response = await fetch(base + path, {
      method: options.method ?? 'GET',
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const body = await response.json().catch(() => null);
    if (response.status === 401 && !options.noLoginRedirect) {
      this.session = null;
      navigate('/login');
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  },
  href(path) {
    return base + path;
  },
  navigate: (path) => navigate(path),
  say(text) {
    statusLine.textContent = text;
  },
  async refreshSession() {
    try {
      this.session = await this.api('/api/session', { noLoginRedirect: true });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      this.session = null;
    }
    showWho();
    return this.session;
  },
};

function showWho() {
  const who = document.getElementById('who');
  const logout = document.getElementById('logout');
  who.textContent = app.session ? `${app.session.name} (${app.session.role})` : '';
  logout.hidden = !app.session || app.session.via !== 'session';
}

let current = { refresh: null, generation: 0 };

const routes = [
  [/^\/?$/, () => renderOverview],
  [/^\/login$/, () => renderLogin],
  [/^\/jobs$/, () => renderJobs],
  [/^\/jobs\/([^/]+)$/, (m) => (app2, el) => renderJob(app2, el, decodeURIComponent(m[1]))],
  [/^\/runs$/, () => renderRuns],
  [/^\/runs\/([^/]+)$/, (m) => (app2, el) => renderRun(app2, el, decodeURIComponent(m[1]))],
  [/^\/pipelines$/, () => renderPipelines],
  [/^\/pipelines\/([^/]+)$/, (m) => (app2, el) => renderPipeline(app2, el, decodeURIComponent(m[1]))],
  [/^\/state$/, () => renderNamespaces],
  [/^\/state\/([^/]+)$/, (m) => (app2, el) => renderNamespace(app2, el, decodeURIComponent(m[1]))],
  [/^\/maintenance$/, () => renderMaintenance],
  [/^\/audit$/, () => renderAudit],
  [/^\/replays$/, () => renderReplays],
];

async function render() {
  const generation = ++current.generation;
  current.refresh = null;
  const path = location.pathname.slice(base.length) || '/';
  if (!app.session && path !== '/login') {
    await app.refreshSession();
    if (!app.session) return navigate('/login', true);
  }
  let page = null;
  for (const [pattern, make] of routes) {
    const match = pattern.exec(path);
    if (match) {
      page = make(match);
      break;
    }
  }
  for (const link of document.querySelectorAll('nav a')) {
    const target = link.getAttribute('href').slice(base.length) || '/';
    if ((target === '/' ? path === '/' : path.startsWith(target))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!page) return replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No console page at this address.'));
  try {
    const refresh = await page(app, main);
    if (generation === current.generation) current.refresh = refresh ?? null;
  } catch (error) {
    if (generation === current.generation) replace(main, h('h1', {}, 'Error'), h('p', { class: 'error' }, error.message));
  }
}

function navigate(path, replaceState = false) {
  const url = base + path;
  if (replaceState) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  statusLine.textContent = '';
  void render().then(() => main.focus());
}

document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[data-nav]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute('href').slice(base.length) || '/');
});
window.addEventListener('popstate', () => void render());
document.getElementById('logout').addEventListener('click', async () => {
  await app.api('/api/session', { method: 'DELETE' }).catch(() => null);
  app.session = null;
  showWho();
  navigate('/login');
});

// Polling refresh, paused while the tab is hidden; a tab shown again refreshes at once. The root
// element carries data-refreshing while a refresh is in flight (a tick meanwhile is skipped).
let refreshing = false;
function setRefreshing(value) {
  refreshing = value;
  document.documentElement.toggleAttribute('data-refreshing', value);
}
async function tick() {
  if (document.hidden || !current.refresh || refreshing) return;
  setRefreshing(true);
  try {
    await current.refresh();
  } catch {
    // The next tick tries again; the page keeps what it showed.
  } finally {
    setRefreshing(false);
  }
}
setInterval(() => void tick(), refreshMs);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void tick();
});

void render();

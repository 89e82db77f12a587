// The TRE console: one page on the TRE API. Every action is an API call made with the signed-in
// user's token, so the API applies the same rules as for the CLI; the console only hides what
// cannot apply to the user (a researcher has no review queue).

// `generation` counts redraws that stop the page's polls: a poll whose refresh was already
// running when they were stopped sees it changed and does not schedule itself again.
const state = { config: null, oidc: null, me: null, timers: [], generation: 0 };

const TOKEN_KEY = 'tre.console.token';
const PKCE_KEY = 'tre.console.pkce';

// ---------- small DOM helpers (text is always set as text, never parsed as HTML) ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function table(caption, headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'hint' }, empty);
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', c.attrs || {}, c.attrs ? c.value : c))))));
}

const mono = (value) => ({ attrs: { class: 'mono' }, value });

function show(...nodes) {
  const main = document.getElementById('main');
  // A redraw (polling) keeps the keyboard focus on the control that had it.
  const focused = main.contains(document.activeElement) ? document.activeElement.id : '';
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
  if (focused) document.getElementById(focused)?.focus({ preventScroll: true });
}

function notify(message, isError = false) {
  const n = document.getElementById('notice');
  n.className = isError ? 'error' : '';
  n.textContent = message;
}

const OK = new Set(['deployed', 'updated', 'action_succeeded', 'approved', 'clean']);
const BAD = new Set(['deployment_failed', 'updating_failed', 'deleting_failed', 'action_failed',
  'rejected', 'blocked_by_scan', 'failed', 'cancelled', 'revoked', 'threat']);
const IN_PROGRESS = new Set(['awaiting_deployment', 'deploying', 'awaiting_update', 'updating',
  'awaiting_deletion', 'deleting', 'awaiting_action', 'invoking_action', 'pipeline_running']);

function badge(status) {
  const kind = OK.has(status) ? 'ok' : BAD.has(status) ? 'bad' : 'wait';
  return h('span', { class: `status ${kind}` }, String(status).replaceAll('_', ' '));
}

// Times come as POSIX seconds (Azure TRE's `updatedWhen`) or as RFC 3339 text.
function when(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return h('time', { datetime: d.toISOString() }, d.toLocaleString());
}

function bytes(n) {
  if (n === undefined || n === null) return 'not measured yet';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n; let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]} (${n} bytes)`;
}

const displayName = (r) => r.properties?.display_name || r.templateName || r.id;

// ---------- sign-in: OIDC authorization code flow with PKCE ----------

function b64url(buf) {
  let s = '';
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(n) {
  const a = new Uint8Array(n);
  crypto.getRandomValues(a);
  return b64url(a);
}

async function discovery() {
  if (!state.oidc) {
    const url = `${state.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const r = await fetch(url);
    if (!r.ok) throw new Error(`The sign-in service did not answer (${r.status} from ${url}).`);
    state.oidc = await r.json();
  }
  return state.oidc;
}

async function signIn() {
  const d = await discovery();
  const verifier = randomString(32);
  const st = randomString(16);
  const nonce = randomString(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: st, returnTo: location.hash }));
  const u = new URL(d.authorization_endpoint);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: state.config.clientId,
    redirect_uri: state.config.redirectUri,
    scope: state.config.scope,
    state: st,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(u.toString());
}

async function finishSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null');
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, '', state.config.redirectUri + (saved?.returnTo || '#/'));
  if (params.get('error')) {
    throw new Error(`Sign-in was refused: ${params.get('error_description') || params.get('error')}`);
  }
  if (!saved || saved.state !== params.get('state')) {
    throw new Error('That sign-in response does not belong to this browser tab. Please sign in again.');
  }
  const d = await discovery();
  const r = await fetch(d.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: state.config.redirectUri,
      client_id: state.config.clientId,
      code_verifier: saved.verifier,
    }),
  });
  const body = await r.json().catch(() => ({}));
  const token = body[state.config.tokenField];
  if (!r.ok || !token) {
    throw new Error(`Sign-in could not be completed: ${body.error_description || body.error || r.status}`);
  }
  const expiresAt = Date.now() + (body.expires_in || 3600) * 1000;
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token, expiresAt }));
}

function currentToken() {
  const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null');
  // A minute's margin: a token that expires mid-request would fail an approval half-way.
  if (!saved || saved.expiresAt < Date.now() + 60_000) return null;
  return saved.token;
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  location.hash = '#/';
  render();
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(message, status, errors = []) { super(message); this.status = status; this.errors = errors; }
}

async function api(method, path, body, extraHeaders = {}) {
  const token = currentToken();
  if (!token) throw new ApiError('Your session has ended. Please sign in again.', 401);
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json', ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(state.config.apiUrl + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new ApiError('Your session has ended. Please sign in again.', 401);
  }
  if (!r.ok) {
    throw new ApiError(data?.detail || data?.title || `${r.status} ${r.statusText}`, r.status,
      Array.isArray(data?.errors) ? data.errors : []);
  }
  return data;
}

// Every page of a list: each page names the next in `nextLink` (absent on the last).
async function apiAll(path, key) {
  const items = [];
  for (let next = path; next;) {
    const page = await api('GET', next);
    items.push(...(page[key] || []));
    next = page.nextLink;
  }
  return { [key]: items };
}

const enc = encodeURIComponent;
const wsPath = (ws) => `/api/workspaces/${enc(ws)}`;
const svcPath = (ws, svc) => `${wsPath(ws)}/workspace-services/${enc(svc)}`;
const reqPath = (ws, id) => `${wsPath(ws)}/requests/${enc(id)}`;

function rolesIn(ws) {
  return state.me?.workspaceRoles.find((w) => w.workspaceId === ws)?.roles || [];
}
const isAirlockManager = () => state.me?.workspaceRoles.some((w) => w.roles.includes('AirlockManager'));
const isAdmin = () => state.me?.treRoles.includes('TREAdmin');

// ---------- navigation ----------

function navLinks() {
  const links = [['#/workspaces', 'Workspaces'], ['#/operations', 'Operations'], ['#/notifications', 'Notifications']];
  if (isAirlockManager()) links.push(['#/review', 'Review queue']);
  links.push(['#/templates', 'Templates']);
  if (isAdmin()) links.push(['#/shared-services', 'Shared services'], ['#/datasources', 'Data sources']);
  const here = location.hash.split('/').slice(0, 2).join('/');
  return h('ul', {}, links.map(([href, label]) => h('li', {},
    h('a', { href, 'aria-current': href === here ? 'page' : undefined }, label))));
}

function renderChrome() {
  document.getElementById('nav').replaceChildren(state.me ? navLinks() : '');
  const user = document.getElementById('user');
  if (state.me) {
    user.replaceChildren(
      h('span', {}, `Signed in as ${state.me.name || state.me.id}`),
      h('button', { type: 'button', onclick: signOut }, 'Sign out'),
    );
  } else {
    user.replaceChildren();
  }
}

function stopTimers() {
  for (const t of state.timers) clearTimeout(t);
  state.timers = [];
  state.generation += 1;
}

// Re-runs `refresh` every two seconds while it returns true (something is still in progress),
// until the user navigates away.
function poll(refresh) {
  const generation = state.generation;
  const tick = async () => {
    if (generation !== state.generation) return;
    let again = false;
    try { again = await refresh(); } catch (e) { notify(e.message, true); }
    if (again && generation === state.generation) state.timers.push(setTimeout(tick, 2000));
  };
  state.timers.push(setTimeout(tick, 2000));
}

const routes = [
  [/^#\/?$/, () => { location.replace('#/workspaces'); }],
  [/^#\/workspaces$/, workspacesPage],
  [/^#\/workspaces\/new$/, () => createPage('workspace', {})],
  [/^#\/workspaces\/([^/]+)$/, workspacePage],
  [/^#\/workspaces\/([^/]+)\/people$/, peoplePage],
  [/^#\/workspaces\/([^/]+)\/services\/new$/, (ws) => createPage('workspaceService', { ws })],
  [/^#\/workspaces\/([^/]+)\/services\/([^/]+)$/, servicePage],
  [/^#\/workspaces\/([^/]+)\/services\/([^/]+)\/resources\/new$/, newUserResourcePage],
  [/^#\/workspaces\/([^/]+)\/services\/([^/]+)\/resources\/([^/]+)$/, userResourcePage],
  [/^#\/workspaces\/([^/]+)\/operations\/([^/]+)$/, operationPage],
  [/^#\/workspaces\/([^/]+)\/requests\/new$/, newRequestPage],
  [/^#\/workspaces\/([^/]+)\/requests\/([^/]+)$/, requestPage],
  [/^#\/operations$/, operationsPage],
  [/^#\/review$/, reviewQueuePage],
  [/^#\/notifications$/, notificationsPage],
  [/^#\/templates$/, templatesPage],
  [/^#\/shared-services$/, sharedServicesPage],
  [/^#\/datasources$/, dataSourcesPage],
  [/^#\/datasources\/new$/, newDataSourcePage],
  [/^#\/datasources\/([^/]+)$/, dataSourcePage],
];

async function render() {
  stopTimers();
  if (!currentToken()) {
    state.me = null;
    renderChrome();
    signInPage();
    return;
  }
  try {
    if (!state.me) state.me = await api('GET', '/api/me');
  } catch (e) {
    notify(e.message, true);
    state.me = null;
    renderChrome();
    signInPage();
    return;
  }
  renderChrome();
  const hash = location.hash || '#/';
  const route = routes.find(([re]) => re.test(hash));
  const main = document.getElementById('main');
  if (!route) {
    show(h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/workspaces' }, 'Go to workspaces')));
    return;
  }
  const args = hash.match(route[0]).slice(1).map(decodeURIComponent);
  try {
    await route[1](...args);
  } catch (e) {
    if (e.status === 401) { state.me = null; renderChrome(); signInPage(); }
    show(h('h1', {}, 'Something went wrong'), h('p', { class: 'field-error' }, e.message));
  }
  // Move focus to the new content so keyboard and screen-reader users start there.
  main.focus({ preventScroll: true });
}

function signInPage() {
  show(
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Sign in with your organisation account to review airlock requests and follow your workspaces.'),
    h('button', { type: 'button', class: 'primary', id: 'sign-in', onclick: () => signIn().catch((e) => notify(e.message, true)) }, 'Sign in'),
  );
}

// ---------- pages ----------

async function workspacesPage() {
  const { workspaces } = await apiAll('/api/workspaces', 'workspaces');
  show(
    h('h1', {}, 'Workspaces'),
    isAdmin() ? h('p', {}, h('a', { href: '#/workspaces/new', id: 'new-workspace' }, 'Create a workspace')) : '',
    table('Workspaces you can see', ['Name', 'Template', 'Status', 'Your roles', 'Updated'],
      workspaces.map((w) => [
        h('a', { href: `#/workspaces/${enc(w.id)}` }, displayName(w)),
        `${w.templateName} ${w.templateVersion}`,
        badge(w.deploymentStatus),
        rolesIn(w.id).join(', ') || (isAdmin() ? 'TRE admin' : ''),
        when(w.updatedWhen),
      ]),
      'You have no workspaces yet. A TRE admin creates workspaces and assigns roles in them.'),
  );
}

function operationsTable(ws, ops) {
  return table('Operations, newest first', ['Action', 'Status', 'Steps', 'Started', 'By'],
    [...ops].sort((a, b) => b.createdWhen - a.createdWhen).map((o) => [
      h('a', { href: `#/workspaces/${enc(ws)}/operations/${enc(o.id)}` }, o.action),
      badge(o.status),
      `${o.steps.filter((s) => !IN_PROGRESS.has(s.status)).length} of ${o.steps.length} done`,
      when(o.createdWhen),
      o.user.name,
    ]),
    'No operations yet.');
}

async function workspacePage(ws) {
  const load = async () => {
    const [{ workspace }, { workspaceServices }, { operations }] = await Promise.all([
      api('GET', wsPath(ws)),
      apiAll(`${wsPath(ws)}/workspace-services`, 'workspaceServices'),
      apiAll(`${wsPath(ws)}/operations`, 'operations'),
    ]);
    let requests = null;
    const roles = rolesIn(ws);
    if (roles.length > 0) {
      requests = (await apiAll(`${wsPath(ws)}/requests`, 'airlockRequests')).airlockRequests.map((i) => i.airlockRequest);
    }
    const template = await api('GET', `/api/workspace-templates/${enc(workspace.templateName)}?version=${enc(workspace.templateVersion)}&is_update=true`).catch(() => null);
    return { workspace, workspaceServices, operations, requests, template };
  };
  const manages = isAdmin() || rolesIn(ws).includes('WorkspaceOwner');
  const draw = ({ workspace, workspaceServices, operations, requests, template }) => {
    show(
      h('h1', {}, `Workspace: ${displayName(workspace)}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, badge(workspace.deploymentStatus)),
        h('dt', {}, 'Template'), h('dd', {}, `${workspace.templateName} ${workspace.templateVersion}`),
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, workspace.id),
        h('dt', {}, 'Your roles'), h('dd', {}, rolesIn(ws).join(', ') || 'none (TRE admin)')),
      manages ? h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}/people`, id: 'people' }, 'People and roles')) : '',
      h('h2', {}, 'Workspace services'),
      manages ? h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}/services/new`, id: 'new-service' }, 'Add a workspace service')) : '',
      table('Services of this workspace', ['Name', 'Template', 'Status', 'Updated'],
        workspaceServices.map((s) => [
          h('a', { href: `#/workspaces/${enc(ws)}/services/${enc(s.id)}` }, displayName(s)),
          `${s.templateName} ${s.templateVersion}`,
          badge(s.deploymentStatus),
          when(s.updatedWhen),
        ]), 'No workspace services.'),
      manages ? managePanel('workspace', {}, workspace, template,
        workspaceServices.map((x) => `workspace service “${displayName(x)}” and its user resources`),
        () => workspacePage(ws)) : '',
      manages ? updateForm('workspace', {}, workspace, template, () => workspacePage(ws)) : '',
      h('h2', {}, 'Operations'),
      operationsTable(ws, operations),
      requests === null ? '' : h('h2', {}, 'Airlock requests'),
      requests === null ? '' : h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}/requests/new`, id: 'new-request' }, 'New airlock request')),
      requests === null ? '' : table('Airlock requests of this workspace', ['Title', 'Type', 'Status', 'Files', 'Updated'],
        requests.map((r) => [
          h('a', { href: `#/workspaces/${enc(ws)}/requests/${enc(r.id)}` }, r.title),
          r.type, badge(r.status), String(r.files.length), when(r.updatedWhen),
        ]), 'No airlock requests.'),
      // Last, so the lists above keep their place on the page.
      h('h2', {}, 'At a glance'),
      glanceChart(operations, requests),
    );
  };
  const first = await load();
  draw(first);
  poll(async () => {
    const next = await load();
    draw(next);
    return next.operations.some((o) => IN_PROGRESS.has(o.status));
  });
}

// ---------- resources: create from a template's schema, actions, enable/disable, delete ----------

// Where each kind of resource lives, and where its templates are found. `ctx` holds the ids of
// the resources above it (`ws`, `svc`, and `svcTemplate` for user resources).
const KINDS = {
  workspace: {
    noun: 'workspace', key: 'workspace',
    templates: () => '/api/workspace-templates',
    template: (ctx, name) => `/api/workspace-templates/${enc(name)}`,
    base: () => '/api/workspaces',
    page: (ctx, id) => `#/workspaces/${enc(id)}`,
    up: () => '#/workspaces',
  },
  workspaceService: {
    noun: 'workspace service', key: 'workspaceService',
    templates: (ctx) => `${wsPath(ctx.ws)}/workspace-service-templates`,
    template: (ctx, name) => `/api/workspace-service-templates/${enc(name)}`,
    base: (ctx) => `${wsPath(ctx.ws)}/workspace-services`,
    page: (ctx, id) => `#/workspaces/${enc(ctx.ws)}/services/${enc(id)}`,
    up: (ctx) => `#/workspaces/${enc(ctx.ws)}`,
  },
  userResource: {
    noun: 'user resource', key: 'userResource',
    templates: (ctx) => `${wsPath(ctx.ws)}/workspace-service-templates/${enc(ctx.svcTemplate)}/user-resource-templates`,
    template: (ctx, name) => `/api/workspace-service-templates/${enc(ctx.svcTemplate)}/user-resource-templates/${enc(name)}`,
    base: (ctx) => `${svcPath(ctx.ws, ctx.svc)}/user-resources`,
    page: (ctx, id) => `#/workspaces/${enc(ctx.ws)}/services/${enc(ctx.svc)}/resources/${enc(id)}`,
    up: (ctx) => `#/workspaces/${enc(ctx.ws)}/services/${enc(ctx.svc)}`,
  },
};

const itemPath = (kind, ctx, id) => `${KINDS[kind].base(ctx)}/${enc(id)}`;

// The field a schema violation names: `/size: ...` (a value's path) or `"size" is a required
// property` (a missing one); null when it names none.
function violatedField(message) {
  const path = message.match(/^\/([^/:]+)[^:]*:/);
  if (path) return path[1].replaceAll('~1', '/').replaceAll('~0', '~');
  const missing = message.match(/^"([^"]+)" is a required property/);
  return missing ? missing[1] : null;
}

// One form control per top-level property of a template's JSON Schema. Constraints are set on
// the controls for assistive technology, but the API validates (`novalidate`), so the message
// shown is the API's own.
function schemaField(name, prop, required) {
  const id = `field-${name}`;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== 'null') : prop.type;
  const constraints = [];
  if (prop.minimum !== undefined) constraints.push(`at least ${prop.minimum}`);
  if (prop.maximum !== undefined) constraints.push(`at most ${prop.maximum}`);
  if (prop.minLength !== undefined) constraints.push(`at least ${prop.minLength} characters`);
  if (prop.maxLength !== undefined) constraints.push(`at most ${prop.maxLength} characters`);
  const hint = [prop.description, constraints.length ? `(${constraints.join(', ')})` : '',
    prop.sensitive ? 'Kept secret: never shown again.' : ''].filter(Boolean).join(' ');
  const common = {
    id, name, 'data-type': type, 'aria-describedby': `${hint ? hintId : ''} ${errorId}`.trim(),
    required: required || undefined,
  };
  let control;
  if (Array.isArray(prop.enum)) {
    control = h('select', common,
      required ? '' : h('option', { value: '' }, '(not set)'),
      prop.enum.map((v) => h('option', { value: JSON.stringify(v), selected: v === prop.default || undefined }, String(v))));
  } else if (type === 'object' || type === 'array') {
    // Structured settings (a workspace's `airlock_review_config`) are edited as JSON text.
    control = h('textarea', { ...common, spellcheck: 'false', class: 'json' },
      prop.default === undefined ? '' : JSON.stringify(prop.default, null, 2));
  } else if (type === 'boolean') {
    control = h('input', { ...common, type: 'checkbox', checked: prop.default === true || undefined });
  } else if (type === 'integer' || type === 'number') {
    control = h('input', {
      ...common, type: 'number', min: prop.minimum, max: prop.maximum,
      step: type === 'integer' ? 1 : 'any', value: prop.default,
    });
  } else {
    control = h('input', {
      ...common, type: prop.sensitive ? 'password' : 'text', autocomplete: prop.sensitive ? 'new-password' : 'off',
      minlength: prop.minLength, maxlength: prop.maxLength, value: prop.sensitive ? undefined : prop.default,
    });
  }
  return h('div', { class: 'field' },
    h('label', { for: id }, prop.title || name, required ? ' (required)' : ''),
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : '',
    control,
    h('p', { id: errorId, class: 'field-error', hidden: true }));
}

function fieldValue(control) {
  const type = control.dataset.type;
  if (control.tagName === 'SELECT') return control.value === '' ? undefined : JSON.parse(control.value);
  if (type === 'boolean') return control.checked;
  if (type === 'object' || type === 'array') {
    if (control.value.trim() === '') return undefined;
    // Text that is not JSON goes as it is, so the API's message names the field.
    try { return JSON.parse(control.value); } catch { return control.value; }
  }
  if (control.value === '') return undefined;
  if (type === 'integer' || type === 'number') {
    const n = Number(control.value);
    return Number.isNaN(n) ? control.value : n;
  }
  return control.value;
}

function schemaForm(template, submitLabel, onSubmit, { submitId = 'create', values = {}, heading } = {}) {
  const required = new Set(template.required || []);
  // The name first, then what is required, then the rest, each group in the schema's order.
  const rank = ([name]) => (name === 'display_name' ? 0 : required.has(name) ? 1 : 2);
  const props = Object.entries(template.properties || {}).filter(([, p]) => !p.readOnly)
    .sort((a, b) => rank(a) - rank(b));
  const formError = h('p', { id: 'form-error', class: 'field-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: submitId }, submitLabel);
  const form = h('form', { class: 'schema', novalidate: true, 'aria-labelledby': 'form-heading' },
    h('h2', { id: 'form-heading' }, heading || `Parameters of ${template.title || template.name}`),
    // Current values stand in for defaults when changing a resource; secrets are never shown.
    props.length ? props.map(([name, p]) => schemaField(name,
      name in values && !p.sensitive ? { ...p, default: values[name] } : p, required.has(name)))
      : h('p', { class: 'hint' }, 'This template has no parameters.'),
    formError,
    h('div', { class: 'actions' }, submit));
  const clearErrors = () => {
    formError.hidden = true;
    for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const properties = {};
    for (const [name] of props) {
      const v = fieldValue(form.elements.namedItem(name));
      if (v !== undefined) properties[name] = v;
    }
    submit.disabled = true;
    try {
      await onSubmit(properties);
    } catch (e) {
      submit.disabled = false;
      const loose = [];
      let first = null;
      for (const message of (e.errors?.length ? e.errors : [e.message])) {
        const name = violatedField(message);
        const control = name && form.elements.namedItem(name);
        if (!control) { loose.push(message); continue; }
        const err = document.getElementById(`field-${name}-error`);
        err.hidden = false;
        err.textContent = err.textContent ? `${err.textContent} ${message}` : message;
        control.setAttribute('aria-invalid', 'true');
        first = first || control;
      }
      if (loose.length) { formError.hidden = false; formError.textContent = loose.join(' '); }
      notify(`Not saved: ${e.message}`, true);
      (first || formError).focus?.();
    }
  });
  return form;
}

async function createPage(kind, ctx) {
  const k = KINDS[kind];
  const { templates } = await api('GET', k.templates(ctx));
  const formHolder = h('div', { id: 'template-form' });
  const choose = async (name) => {
    const template = await api('GET', k.template(ctx, name));
    formHolder.replaceChildren(schemaForm(template, `Create ${k.noun}`, async (properties) => {
      const reply = await api('POST', k.base(ctx), { templateName: name, properties });
      const id = reply.operation?.resourceId || reply[k.key]?.id;
      notify(`Creating the ${k.noun}: its operation has started.`);
      location.hash = k.page(ctx, id);
    }));
  };
  show(
    h('p', {}, h('a', { href: k.up(ctx) }, '← Back')),
    h('h1', {}, `Create a ${k.noun}`),
    templates.length === 0
      ? h('p', { class: 'hint' }, `No ${k.noun} template is available to you here.`)
      : h('fieldset', { class: 'picker' },
        h('legend', {}, 'Template'),
        templates.map((t) => h('div', { class: 'choice' },
          h('input', {
            type: 'radio', name: 'template', id: `template-${t.name}`, value: t.name,
            onchange: () => choose(t.name).catch((e) => notify(e.message, true)),
          }),
          h('label', { for: `template-${t.name}` }, h('strong', {}, t.title || t.name), ` ${t.version} — ${t.description || ''}`)))),
    formHolder,
  );
}

// A resource's `connection_uri` (Azure TRE's convention for how to open it), when it is a web
// or file address: anything else (`javascript:`...) is not made a link. `tre dev`'s review
// environments are folders on the machine, hence `file:`.
const connectionUri = (props) => {
  const uri = props?.connection_uri;
  return typeof uri === 'string' && /^(https?|file):\/\//i.test(uri) ? uri : null;
};

const openLink = (props) => {
  const uri = connectionUri(props);
  return uri
    ? h('p', {}, h('a', { href: uri, target: '_blank', rel: 'noopener noreferrer', class: 'open', id: 'open-resource' }, 'Open (in a new tab)'))
    : '';
};

function progressOf(op) {
  if (!op) return 'No operation yet.';
  const done = op.steps.filter((s) => !IN_PROGRESS.has(s.status)).length;
  return `Latest operation: ${op.action}, ${String(op.status).replaceAll('_', ' ')} (${done} of ${op.steps.length} steps done)${op.message ? `: ${op.message}` : ''}`;
}

// The management panel of a resource: its custom actions, enable/disable and delete (with a
// confirmation naming what goes with it). `below` names what deleting removes with it.
function managePanel(kind, ctx, resource, template, below, reload) {
  const path = itemPath(kind, ctx, resource.id);
  const busy = IN_PROGRESS.has(resource.deploymentStatus);
  const noun = KINDS[kind].noun;
  const run = async (what, call) => {
    try {
      await call();
      notify(what);
      await reload();
    } catch (e) { notify(e.message, true); }
  };
  const etag = { etag: resource._etag };
  const confirmBox = h('div', { id: 'confirm-delete', class: 'confirm', hidden: true, role: 'alertdialog', 'aria-labelledby': 'confirm-text' });
  const askDelete = () => {
    const goes = below.length ? ` With it go: ${below.join(', ')}.` : ' Nothing else goes with it.';
    const keep = h('button', { type: 'button', id: 'keep', onclick: () => { confirmBox.hidden = true; } }, 'Keep it');
    confirmBox.replaceChildren(
      h('p', { id: 'confirm-text' }, `Delete the ${noun} “${displayName(resource)}”?${goes} This cannot be undone.`),
      h('div', { class: 'actions' },
        h('button', {
          type: 'button', class: 'danger', id: 'confirm-delete-yes',
          onclick: () => run(`Deleting the ${noun}.`, () => api('DELETE', path)),
        }, `Yes, delete ${displayName(resource)}`),
        keep));
    confirmBox.hidden = false;
    keep.focus();
  };
  const actions = (template?.customActions || []).map((a) => h('button', {
    type: 'button', class: 'action', id: `action-${a.name}`, disabled: busy || !resource.isEnabled || undefined,
    title: a.description || undefined,
    onclick: () => run(`${a.name}: its operation has started.`, () => api('POST', `${path}/invoke-action?action=${enc(a.name)}`)),
  }, a.name));
  return h('section', { 'aria-labelledby': 'manage-heading' },
    h('h2', { id: 'manage-heading' }, 'Manage'),
    actions.length ? h('div', { class: 'actions', role: 'group', 'aria-label': 'Custom actions' }, actions) : '',
    h('div', { class: 'actions' },
      h('button', {
        type: 'button', id: resource.isEnabled ? 'disable' : 'enable', disabled: busy || undefined,
        onclick: () => run(resource.isEnabled ? `Disabling the ${noun}.` : `Enabling the ${noun}.`,
          () => api('PATCH', path, { isEnabled: !resource.isEnabled }, etag)),
      }, resource.isEnabled ? 'Disable' : 'Enable'),
      h('button', {
        type: 'button', class: 'danger', id: 'delete', disabled: busy || resource.isEnabled || undefined,
        'aria-describedby': 'delete-hint', onclick: askDelete,
      }, 'Delete…')),
    h('p', { id: 'delete-hint', class: 'hint' }, resource.isEnabled
      ? `Disable the ${noun} before deleting it${below.length ? ' (disabling disables what is under it)' : ''}.`
      : `The ${noun} is disabled: it can be deleted.`),
    confirmBox);
}

// Changes the resource's `updateable` parameters (a PATCH with its etag, which starts an
// upgrade); only what changed is sent.
function updateForm(kind, ctx, resource, template, reload) {
  const editable = Object.entries(template?.properties || {}).filter(([, p]) => !p.readOnly);
  if (!template || editable.length === 0 || IN_PROGRESS.has(resource.deploymentStatus)) return '';
  const current = resource.properties || {};
  const form = schemaForm({ ...template, required: [] }, 'Save changes', async (properties) => {
    const changed = Object.fromEntries(Object.entries(properties)
      .filter(([name, v]) => JSON.stringify(v) !== JSON.stringify(current[name])));
    if (Object.keys(changed).length === 0) { notify('Nothing was changed.'); return; }
    await api('PATCH', itemPath(kind, ctx, resource.id), { properties: changed }, { etag: resource._etag });
    notify(`Saving ${Object.keys(changed).join(', ')}: its operation has started.`);
    await reload();
  }, { submitId: 'save-changes', values: current, heading: 'Change its settings' });
  return h('section', { 'aria-label': 'Change its settings' }, form);
}

function resourceFacts(resource, op) {
  return [
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'resource-status' }, badge(resource.deploymentStatus)),
      h('dt', {}, 'Enabled'), h('dd', { id: 'resource-enabled' }, resource.isEnabled ? 'yes' : 'no (disabled)'),
      h('dt', {}, 'Template'), h('dd', {}, `${resource.templateName} ${resource.templateVersion}`),
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, resource.id),
      resource.ownerId ? [h('dt', {}, 'Owner'), h('dd', {}, resource.ownerId)] : ''),
    h('p', { id: 'resource-progress', role: 'status', 'aria-live': 'polite' }, progressOf(op)),
    op && op.steps.length ? h('ol', { class: 'steps', 'aria-label': 'Steps of the latest operation' }, op.steps.map((s) => h('li', {},
      `${s.stepTitle || s.resourceAction} `, badge(s.status), s.message ? ` — ${s.message}` : ''))) : '',
    openLink(resource.properties),
    h('h2', {}, 'Properties and outputs'),
    table('Properties and outputs of the resource', ['Name', 'Value'],
      Object.entries(resource.properties || {}).map(([k, v]) => [mono(k), mono(typeof v === 'string' ? v : JSON.stringify(v))]),
      'None.'),
  ];
}

// Loads and draws a resource page, polling while an operation runs on it. `extra` loads what
// the page shows beside the resource (its children) and returns [nodes, names that go with it].
async function resourcePage(kind, ctx, id, templatePath, extra) {
  const k = KINDS[kind];
  const path = itemPath(kind, ctx, id);
  let template = null;
  const load = async () => {
    let resource;
    try {
      resource = (await api('GET', path))[k.key];
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
    const { operations } = await apiAll(`${path}/operations`, 'operations');
    // `is_update` marks what cannot change as read-only, which the update form leaves out.
    if (!template) template = await api('GET', `${templatePath(resource)}?version=${enc(resource.templateVersion)}&is_update=true`).catch(() => null);
    const [nodes, below] = extra ? await extra(resource) : [[], []];
    return { resource, operations, nodes, below };
  };
  const draw = (data) => {
    if (!data || data.resource.deploymentStatus === 'deleted') {
      show(h('p', {}, h('a', { href: k.up(ctx) }, '← Back')),
        h('h1', {}, `The ${k.noun} is deleted`),
        h('p', { id: 'resource-status', role: 'status' }, `This ${k.noun} has been deleted.`));
      return false;
    }
    const { resource, operations, nodes, below } = data;
    const ops = [...operations].sort((a, b) => b.createdWhen - a.createdWhen);
    show(
      h('p', {}, h('a', { href: k.up(ctx) }, '← Back')),
      h('h1', {}, `${k.noun[0].toUpperCase()}${k.noun.slice(1)}: ${displayName(resource)}`),
      resourceFacts(resource, ops[0]),
      nodes,
      managePanel(kind, ctx, resource, template, below, refresh),
      updateForm(kind, ctx, resource, template, refresh),
      h('h2', {}, 'Operations'),
      table(`Operations on this ${k.noun}, newest first`, ['Action', 'Status', 'Steps', 'Message', 'Started', 'By'],
        ops.map((o) => [o.action, badge(o.status),
          `${o.steps.filter((s) => !IN_PROGRESS.has(s.status)).length} of ${o.steps.length} done`,
          o.message || '', when(o.createdWhen), o.user?.name || '']),
        'No operations yet.'),
    );
    return IN_PROGRESS.has(resource.deploymentStatus) || ops.some((o) => IN_PROGRESS.has(o.status));
  };
  async function refresh() {
    stopTimers();
    const again = draw(await load());
    if (again) poll(async () => draw(await load()));
  }
  await refresh();
}

async function servicePage(ws, svc) {
  const ctx = { ws, svc };
  const roles = rolesIn(ws);
  await resourcePage('workspaceService', ctx, svc, (s) => `/api/workspace-service-templates/${enc(s.templateName)}`,
    async () => {
      const { userResources } = await apiAll(`${svcPath(ws, svc)}/user-resources`, 'userResources');
      const canCreate = roles.includes('WorkspaceResearcher') || roles.includes('WorkspaceOwner');
      return [[
        h('h2', {}, 'User resources'),
        canCreate ? h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}/services/${enc(svc)}/resources/new`, id: 'new-user-resource' }, 'Create a user resource')) : '',
        table('User resources of this service', ['Name', 'Template', 'Owner', 'Status', 'Updated'],
          userResources.map((u) => [
            h('a', { href: KINDS.userResource.page(ctx, u.id) }, displayName(u)),
            `${u.templateName} ${u.templateVersion}`, u.ownerId, badge(u.deploymentStatus), when(u.updatedWhen)]),
          'No user resources you can see.'),
      ], userResources.map((u) => `user resource “${displayName(u)}”`)];
    });
}

async function userResourcePage(ws, svc, id) {
  const { workspaceService: service } = await api('GET', svcPath(ws, svc));
  const ctx = { ws, svc, svcTemplate: service.templateName };
  await resourcePage('userResource', ctx, id,
    (u) => KINDS.userResource.template(ctx, u.templateName), null);
}

async function newUserResourcePage(ws, svc) {
  const { workspaceService: service } = await api('GET', svcPath(ws, svc));
  await createPage('userResource', { ws, svc, svcTemplate: service.templateName });
}

// ---------- people: role assignments of a workspace (TRE admins and its owners) ----------

const ROLES = [
  ['WorkspaceOwner', 'Workspace Owner'],
  ['WorkspaceResearcher', 'Workspace Researcher'],
  ['AirlockManager', 'Airlock Manager'],
];
const roleName = (id) => ROLES.find(([r]) => r === id)?.[1] || id;

async function peoplePage(ws) {
  const base = `${wsPath(ws)}/role-assignments`;
  const [{ workspace }, { roleAssignments }] = await Promise.all([
    api('GET', wsPath(ws)),
    apiAll(base, 'roleAssignments'),
  ]);
  const principalError = h('p', { id: 'principal-error', class: 'field-error', hidden: true });
  const principal = h('input', {
    id: 'principal', name: 'principal', type: 'text', required: true, autocomplete: 'off',
    'aria-describedby': 'principal-hint principal-error',
  });
  const role = h('select', { id: 'role', name: 'role' },
    ROLES.map(([id, name]) => h('option', { value: id }, name)));
  const form = h('form', { class: 'schema', novalidate: true, 'aria-labelledby': 'assign-heading' },
    h('h2', { id: 'assign-heading' }, 'Give someone a role'),
    h('div', { class: 'field' },
      h('label', { for: 'principal' }, 'Person (required)'),
      h('p', { id: 'principal-hint', class: 'hint' }, 'Their user id as your identity provider names them (the token subject).'),
      principal, principalError),
    h('div', { class: 'field' }, h('label', { for: 'role' }, 'Role'), role),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'assign' }, 'Assign role')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    principalError.hidden = true;
    principal.removeAttribute('aria-invalid');
    const id = principal.value.trim();
    const fail = (message) => {
      principalError.hidden = false;
      principalError.textContent = message;
      principal.setAttribute('aria-invalid', 'true');
      principal.focus();
    };
    if (!id) { fail('Say whom to give the role to.'); return; }
    try {
      await api('POST', base, { principalId: id, role: role.value });
      notify(`${id} is now ${roleName(role.value)} in ${displayName(workspace)}.`);
      await peoplePage(ws);
    } catch (e) { fail(e.message); }
  });
  const remove = async (a) => {
    try {
      await api('DELETE', `${base}/${enc(a.principalId)}/${enc(a.role)}`);
      notify(`${a.principalId} is no longer ${roleName(a.role)} in ${displayName(workspace)}.`);
      await peoplePage(ws);
    } catch (e) { notify(e.message, true); }
  };
  show(
    h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}` }, '← Back to the workspace')),
    h('h1', {}, `People of ${displayName(workspace)}`),
    table('Who holds which role', ['Person', 'Role', 'Assigned by', 'Since', ''],
      [...roleAssignments].sort((a, b) => a.principalId.localeCompare(b.principalId)).map((a) => [
        mono(a.principalId), roleName(a.role), a.assignedBy, when(a.assignedAt),
        h('button', {
          type: 'button', class: 'danger', 'data-principal': a.principalId, 'data-role': a.role,
          'aria-label': `Remove ${roleName(a.role)} from ${a.principalId}`, onclick: () => remove(a),
        }, 'Remove'),
      ]),
      'Nobody holds a role here yet.'),
    form,
  );
}

async function operationPage(ws, opId) {
  const draw = (op) => {
    show(
      h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}` }, '← Back to the workspace')),
      h('h1', {}, `Operation: ${op.action}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', { 'aria-live': 'polite' }, badge(op.status)),
        h('dt', {}, 'Resource'), h('dd', { class: 'mono' }, op.resourcePath),
        h('dt', {}, 'Message'), h('dd', {}, op.message || '—'),
        h('dt', {}, 'Started'), h('dd', {}, when(op.createdWhen), ` by ${op.user.name}`),
        h('dt', {}, 'Updated'), h('dd', {}, when(op.updatedWhen))),
      h('h2', {}, 'Steps'),
      h('ol', { class: 'steps' }, op.steps.map((s) => h('li', {},
        `${s.resourceAction} of ${s.resourceTemplateName} `, badge(s.status), s.message ? ` — ${s.message}` : ''))),
    );
  };
  const load = async () => {
    return (await api('GET', `${wsPath(ws)}/operations/${enc(opId)}`)).operation;
  };
  const op = await load();
  draw(op);
  if (IN_PROGRESS.has(op.status)) {
    poll(async () => {
      const next = await load();
      draw(next);
      return IN_PROGRESS.has(next.status);
    });
  }
}

// ---------- airlock: open a request, upload its files, submit, cancel ----------

async function newRequestPage(ws) {
  const error = (id) => h('p', { id: `${id}-error`, class: 'field-error', hidden: true });
  const form = h('form', { class: 'schema', novalidate: true, 'aria-labelledby': 'new-request-heading' },
    h('h2', { id: 'new-request-heading' }, 'The request'),
    h('fieldset', { class: 'picker' }, h('legend', {}, 'Direction'),
      h('div', { class: 'choice' }, h('input', { type: 'radio', name: 'type', id: 'type-import', value: 'import', checked: true }),
        h('label', { for: 'type-import' }, 'Import: bring data into the workspace')),
      h('div', { class: 'choice' }, h('input', { type: 'radio', name: 'type', id: 'type-export', value: 'export' }),
        h('label', { for: 'type-export' }, 'Export: take data out of the workspace'))),
    h('div', { class: 'field' }, h('label', { for: 'request-title' }, 'Title'),
      h('input', { id: 'request-title', name: 'title', type: 'text', maxlength: 200, 'aria-describedby': 'request-title-error' }),
      error('request-title')),
    h('div', { class: 'field' }, h('label', { for: 'request-justification' }, 'Justification (required)'),
      h('p', { id: 'request-justification-hint', class: 'hint' }, 'Why the data must move: the airlock managers read this.'),
      h('textarea', { id: 'request-justification', name: 'businessJustification', required: true, maxlength: 4000, 'aria-describedby': 'request-justification-hint request-justification-error' }),
      error('request-justification')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'create-request' }, 'Create the request')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const justification = form.elements.namedItem('businessJustification');
    const err = document.getElementById('request-justification-error');
    err.hidden = true;
    justification.removeAttribute('aria-invalid');
    const body = {
      type: form.querySelector('input[name=type]:checked').value,
      businessJustification: justification.value,
    };
    const title = form.elements.namedItem('title').value.trim();
    if (title) body.title = title;
    try {
      const { airlockRequest } = await api('POST', `${wsPath(ws)}/requests`, body);
      notify(`Request “${airlockRequest.title}” created: add its files, then submit it.`);
      location.hash = `#/workspaces/${enc(ws)}/requests/${enc(airlockRequest.id)}`;
    } catch (e) {
      // The API names the field it refuses (`businessJustification`, `title`).
      const field = /title/.test(e.message) ? 'request-title' : 'request-justification';
      const target = document.getElementById(`${field}-error`);
      target.hidden = false;
      target.textContent = e.message;
      document.getElementById(field).setAttribute('aria-invalid', 'true');
      document.getElementById(field).focus();
    }
  });
  show(
    h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}` }, '← Back to the workspace')),
    h('h1', {}, 'New airlock request'),
    form,
  );
}

const PART_ATTEMPTS = 3;

// One PUT of `blob` to a pre-signed link, reporting bytes sent; resolves with the ETag.
function putBlob(url, blob, onProgress, upload) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    // Cancelling settles at once, whatever state the transfer is in.
    upload.stop = () => { xhr.abort(); reject(new Error('cancelled')); };
    xhr.open('PUT', url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader('ETag') || '');
      else reject(new Error(`the storage refused the upload (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error('the connection to the storage failed'));
    xhr.onabort = () => reject(new Error('cancelled'));
    xhr.send(blob);
  });
}

// Retries a part a few times: a large upload should survive one dropped connection.
async function putWithRetries(url, blob, onProgress, upload, label) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await putBlob(url, blob, onProgress, upload);
    } catch (e) {
      if (upload.cancelled || attempt >= PART_ATTEMPTS) throw e;
      upload.retries += 1;
      upload.say(`${label} failed (${e.message}); trying again (attempt ${attempt + 1} of ${PART_ATTEMPTS})`);
      onProgress(0);
      await new Promise((r) => { setTimeout(r, 500 * attempt); });
    }
  }
}

// Uploads one file of a draft: in one PUT, or in parts through the part links (64 MiB and up).
async function uploadFile(ws, id, file, upload) {
  if (upload.cancelled) throw new Error('cancelled');
  const link = await api('POST', `${reqPath(ws, id)}/files`, { name: file.name, size: file.size });
  upload.link = link;
  if (link.method === 'MULTIPART') {
    const { uploadId, parts } = link.multipart;
    const done = [];
    let sent = 0;
    for (const part of parts) {
      if (upload.cancelled) throw new Error('cancelled');
      const blob = file.slice(part.offset, part.offset + part.size);
      upload.say(`uploading part ${part.partNumber} of ${parts.length}`);
      const etag = await putWithRetries(part.url, blob, (n) => upload.progress(sent + n), upload,
        `part ${part.partNumber} of ${parts.length}`);
      sent += part.size;
      upload.progress(sent);
      done.push({ partNumber: part.partNumber, etag });
    }
    upload.say('assembling the parts');
    await api('POST', `${reqPath(ws, id)}/files/${enc(file.name)}/complete`, { uploadId, parts: done });
  } else {
    await putWithRetries(link.url, file, (n) => upload.progress(n), upload, 'the upload');
  }
  upload.progress(file.size);
}

function uploadRow(file) {
  const n = file.name;
  const safe = n.replace(/[^A-Za-z0-9_-]/g, '_');
  const bar = h('progress', { id: `progress-${safe}`, max: file.size || 1, value: 0, 'aria-label': `Upload of ${n}` });
  const status = h('span', { id: `upload-status-${safe}`, class: 'upload-status' }, 'waiting');
  const cancel = h('button', { type: 'button', id: `cancel-upload-${safe}`, 'aria-label': `Cancel the upload of ${n}` }, 'Cancel');
  const row = h('li', { class: 'upload' }, h('span', { class: 'mono' }, n), ` (${bytes(file.size)}) `, bar, ' ', status, ' ', cancel);
  const upload = {
    cancelled: false, retries: 0, xhr: null, stop: null, row, cancel,
    say: (t) => { status.textContent = t; },
    progress: (sent) => { bar.value = Math.min(sent, file.size); },
  };
  cancel.addEventListener('click', () => {
    upload.cancelled = true;
    upload.stop?.();
  });
  return upload;
}

function uploadSection(ws, id, onDone) {
  const input = h('input', { type: 'file', id: 'file-input', multiple: true, 'aria-describedby': 'file-hint' });
  const list = h('ul', { id: 'uploads', class: 'uploads', 'aria-label': 'Uploads' });
  // One polite summary for screen readers, so every byte of progress is not read out.
  const live = h('p', { id: 'upload-summary', role: 'status', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'primary', id: 'upload' }, 'Upload the chosen files');
  button.addEventListener('click', async () => {
    const files = [...input.files];
    if (!files.length) { live.textContent = 'Choose one or more files first.'; input.focus(); return; }
    button.disabled = true;
    let ok = 0;
    for (const file of files) {
      const upload = uploadRow(file);
      list.append(upload.row);
      try {
        await uploadFile(ws, id, file, upload);
        upload.say(`uploaded${upload.retries ? ` (after ${upload.retries} retr${upload.retries === 1 ? 'y' : 'ies'})` : ''}`);
        ok += 1;
      } catch (e) {
        if (upload.cancelled) {
          // Take the file off the draft (aborting its parts, deleting what was staged), so the
          // draft can be submitted without it.
          const uploadId = upload.link?.multipart?.uploadId;
          const query = uploadId ? `?upload_id=${enc(uploadId)}` : '';
          try {
            await api('DELETE', `${reqPath(ws, id)}/files/${enc(file.name)}${query}`);
            upload.say('cancelled: nothing of it was kept; choose it again to upload it');
          } catch (err) {
            upload.say(`cancelled, but the file is still named on the request: ${err.message}`);
          }
        } else {
          upload.say(`failed: ${e.message}`);
        }
      }
      upload.cancel.disabled = true;
    }
    live.textContent = `${ok} of ${files.length} file(s) uploaded.`;
    input.value = '';
    button.disabled = false;
    await onDone();
  });
  return h('section', { 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading' }, 'Add files'),
    h('label', { for: 'file-input' }, 'Files to add'),
    h('p', { id: 'file-hint', class: 'hint' }, 'Files over 64 MiB go up in parts; a part that fails is tried again.'),
    input, ' ', button, list, live);
}

async function requestAction(ws, id, what, done) {
  try {
    const { airlockRequest } = await api('POST', `${reqPath(ws, id)}/${what}`);
    notify(`${done}: the request is now ${airlockRequest.status.replaceAll('_', ' ')}.`);
    await requestPage(ws, id);
  } catch (e) { notify(e.message, true); }
}

// ---------- operations: everything running across the caller's workspaces ----------

// The console page of a resource, from its API path (`/workspaces/a/workspace-services/b/...`).
function pageOf(resourcePath) {
  const m = String(resourcePath).match(/^\/workspaces\/([^/]+)(?:\/workspace-services\/([^/]+)(?:\/user-resources\/([^/]+))?)?$/);
  if (!m) return null;
  if (m[3]) return `#/workspaces/${m[1]}/services/${m[2]}/resources/${m[3]}`;
  if (m[2]) return `#/workspaces/${m[1]}/services/${m[2]}`;
  return `#/workspaces/${m[1]}`;
}

async function operationsPage() {
  // `GET /api/operations` lists what has not ended; an operation seen running here and gone
  // from that list is read once more, so the page shows how it ended (and why it failed).
  const seen = new Map();
  const load = async () => {
    const { operations } = await apiAll('/api/operations', 'operations');
    const live = new Set(operations.map((o) => o.id));
    for (const o of operations) seen.set(o.id, o);
    await Promise.all([...seen.values()]
      .filter((o) => !live.has(o.id) && IN_PROGRESS.has(o.status))
      .map(async (o) => {
        try {
          seen.set(o.id, (await api('GET', `/api${o.resourcePath}/operations/${enc(o.id)}`)).operation);
        } catch (e) {
          // Deleted with its resource, or no longer visible to the caller.
          seen.set(o.id, { ...o, status: e.status === 404 ? 'gone' : o.status });
        }
      }));
  };
  const draw = () => {
    const ops = [...seen.values()].sort((a, b) => b.createdWhen - a.createdWhen);
    const running = ops.filter((o) => IN_PROGRESS.has(o.status)).length;
    const failed = ops.filter((o) => BAD.has(o.status)).length;
    show(
      h('h1', {}, 'Operations'),
      h('p', { class: 'hint' }, 'What is running in your workspaces now, and how what ran while this page was open ended. The page refreshes by itself.'),
      h('p', { id: 'operations-summary', role: 'status', 'aria-live': 'polite' },
        `${running} running, ${failed} failed, ${ops.length - running - failed} finished.`),
      table('Operations, newest first', ['Resource', 'Action', 'Status', 'Progress', 'Message', 'Started', 'By'],
        ops.map((o) => {
          const done = o.steps.filter((s) => !IN_PROGRESS.has(s.status)).length;
          const page = pageOf(o.resourcePath);
          return [
            page ? h('a', { href: page }, o.resourcePath) : mono(o.resourcePath),
            o.action,
            badge(o.status),
            [h('progress', { max: o.steps.length || 1, value: done, 'aria-label': `Steps of ${o.action} on ${o.resourcePath}` }),
              ` ${done} of ${o.steps.length} steps`,
              h('ol', { class: 'steps' }, o.steps.map((s) => h('li', {}, `${s.stepTitle || s.resourceAction} `, badge(s.status))))],
            BAD.has(o.status) ? h('span', { class: 'field-error' }, o.message || 'failed') : (o.message || ''),
            when(o.createdWhen),
            o.user?.name || '',
          ];
        }),
        'Nothing is running in your workspaces.'),
    );
  };
  await load();
  draw();
  poll(async () => { await load(); draw(); return true; });
}

const EMAIL_DELIVERY = { sent: 'emailed', noAddress: 'not emailed (no address known)', notConfigured: 'not emailed (this TRE sends no email)', refused: 'not emailed (the mail service refused the address)' };

async function notificationsPage() {
  // The first page (the newest 200) is what a person reads; older ones stay in the API.
  const { notifications } = await api('GET', '/api/notifications');
  show(
    h('h1', {}, 'Notifications'),
    h('p', { class: 'hint' }, 'What needed you: requests to review, decisions on your requests, failed operations, data sources to review. Newest first.'),
    table('Your notifications, newest first', ['When', 'What', 'Details', 'Email'],
      notifications.map((n) => [
        when(n.at),
        h('a', { href: n.link }, n.subject),
        n.text,
        EMAIL_DELIVERY[n.email] || n.email,
      ]),
      'Nothing has needed you yet.'),
  );
}

async function reviewQueuePage() {
  if (!isAirlockManager()) {
    show(h('h1', {}, 'Review queue'),
      h('p', {}, 'You are not an airlock manager in any workspace, so no requests wait for your review.'));
    return;
  }
  const { airlockRequests } = await apiAll('/api/airlock/review-queue', 'airlockRequests');
  show(
    h('h1', {}, 'Review queue'),
    h('p', { class: 'hint' }, 'Requests in review in the workspaces where you are an airlock manager, that you did not create and have not reviewed yet.'),
    table('Requests waiting for your review', ['Title', 'Workspace', 'Type', 'Files', 'Requested by', 'Submitted'],
      airlockRequests.map(({ airlockRequest: r }) => [
        h('a', { href: `#/workspaces/${enc(r.workspaceId)}/requests/${enc(r.id)}` }, r.title),
        mono(r.workspaceId), r.type, String(r.files.length), r.createdBy.name, when(r.updatedWhen),
      ]),
      'Nothing is waiting for your review.'),
  );
}

async function requestPage(ws, id) {
  // A redraw (after an action, or a status change seen by a poll) replaces the page's polls.
  stopTimers();
  const { airlockRequest: req, allowedUserActions } = await api('GET', reqPath(ws, id));
  // The API says what the caller may do with the request now.
  const canReview = allowedUserActions.includes('review');
  const isDraft = req.status === 'draft';
  const mine = req.createdBy?.id === state.me?.id;
  const canDownload = canReview || (mine && req.type === 'export' && req.status === 'approved');
  // Its workspace's airlock managers other than its creator review it (the API decides; this
  // only chooses what to show). The workspace's settings say how.
  const reviewer = !mine && rolesIn(ws).includes('AirlockManager');
  const workspace = reviewer ? (await api('GET', wsPath(ws)).catch(() => null))?.workspace : null;
  const reviewEnv = reviewer ? reviewEnvironment(ws, req, workspace) : null;

  const fileRows = (files) => files.map((f) => [
    mono(f.name), bytes(f.size), mono(f.sha256 || 'not measured yet'),
    canDownload ? h('button', { type: 'button', class: 'download', onclick: () => download(ws, id, f) }, `Download ${f.name}`) : '',
  ]);
  const filesTable = (files) => table('Files of this request', ['Name', 'Size', 'SHA-256', ''], fileRows(files), 'No files.');
  const scan = req.scan
    ? h('dl', { class: 'facts' },
      h('dt', {}, 'Verdict'), h('dd', {}, badge(req.scan.verdict)),
      h('dt', {}, 'Scanners'), h('dd', {}, req.scan.scanners.join(', ') || '—'),
      h('dt', {}, 'Findings'), h('dd', {}, req.scan.findings.length ? h('ul', {}, req.scan.findings.map((f) => h('li', {}, f))) : 'none'))
    : h('p', { class: 'hint' }, 'Not scanned yet.');

  show(
    h('p', {}, h('a', { href: isAirlockManager() ? '#/review' : `#/workspaces/${enc(ws)}` }, '← Back')),
    h('h1', {}, `Airlock ${req.type} request: ${req.title}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'request-status' }, badge(req.status)),
      h('dt', {}, 'Workspace'), h('dd', {}, h('a', { href: `#/workspaces/${enc(ws)}` }, ws)),
      h('dt', {}, 'Requested by'), h('dd', {}, req.createdBy.name),
      h('dt', {}, 'Justification'), h('dd', {}, req.businessJustification),
      h('dt', {}, 'Approvals'), h('dd', {}, `${req.reviews.filter((r) => r.reviewDecision === 'approved').length} of ${req.requiredApprovals} needed`)),
    h('h2', {}, 'Files'),
    h('div', { id: 'files' }, filesTable(req.files)),
    isDraft && allowedUserActions.includes('submit') ? uploadSection(ws, id, async () => {
      const { airlockRequest: now } = await api('GET', reqPath(ws, id));
      document.getElementById('files')?.replaceChildren(filesTable(now.files));
    }) : '',
    h('div', { class: 'actions' },
      allowedUserActions.includes('submit') ? h('button', { type: 'button', class: 'primary', id: 'submit-request', onclick: () => requestAction(ws, id, 'submit', 'Submitted') }, 'Submit for review') : '',
      allowedUserActions.includes('cancel') ? h('button', { type: 'button', class: 'danger', id: 'cancel-request', onclick: () => requestAction(ws, id, 'cancel', 'Cancelled') }, 'Cancel the request') : ''),
    h('p', { id: 'download-status', role: 'status', 'aria-live': 'polite' }),
    reviewEnv?.section,
    h('h2', {}, 'Scan result'),
    scan,
    h('h2', {}, 'Reviews'),
    table('Reviews so far', ['Reviewer', 'Decision', 'Comment', 'When'],
      req.reviews.map((r) => [r.reviewer.name, badge(r.reviewDecision), r.decisionExplanation, when(r.dateCreated)]),
      'No reviews yet.'),
    h('h2', {}, 'History'),
    table('Every status change', ['When', 'From', 'To', 'By', 'Message'],
      req.history.map((t) => [when(t.updatedWhen), badge(t.properties.previousStatus), badge(t.properties.status), t.updatedBy.name, t.properties.message || '']),
      'No status changes since it was opened.'),
    canReview ? reviewForm(ws, id) : '',
  );
  reviewEnv?.start();
  if (['submitted', 'approval_in_progress', 'rejection_in_progress', 'blocking_in_progress'].includes(req.status)) {
    poll(async () => {
      const { airlockRequest: next } = await api('GET', reqPath(ws, id));
      if (next.status !== req.status) { await requestPage(ws, id); return false; }
      return true;
    });
  }
}

// ---------- review environments: a reviewer's own place to read a request's in-review files ----------

// The half of the workspace's `airlock_review_config` for requests of `type` (which template
// a review environment is made of), or null: the workspace reviews through download links.
function reviewConfig(workspace, type) {
  const half = workspace?.properties?.airlock_review_config?.[type];
  return half && typeof half === 'object' && Object.keys(half).length ? half : null;
}

// Requests whose review environment this tab has seen, so that the page can say it was removed
// once the API no longer has it.
const reviewEnvSeen = new Set();

// The request page's section about the caller's review environment (`.../review-user-resource`):
// which kind of review they get, the button that asks for one, its status while it deploys, the
// link to open it, and, once the request is decided, its removal. `start` reads it after the
// page is shown and follows it while something is under way.
function reviewEnvironment(ws, req, workspace) {
  const path = `${reqPath(ws, req.id)}/review-user-resource`;
  const inReview = req.status === 'in_review';
  const configured = reviewConfig(workspace, req.type) !== null;
  const had = () => reviewEnvSeen.has(req.id) || Boolean(req.reviewUserResources?.[state.me?.id]);
  if (!inReview && !had()) return null;

  const heading = h('h2', { id: 'review-env-heading', tabindex: '-1' }, 'Review environment');
  const body = h('div', { id: 'review-env-body' });
  const status = h('p', { id: 'review-env-status', role: 'status', 'aria-live': 'polite' });
  const section = h('section', { id: 'review-env', class: 'review-env', 'aria-labelledby': 'review-env-heading' },
    heading, body, status);
  const kind = configured
    ? h('p', { id: 'review-env-kind', class: 'hint' }, `This workspace reviews ${req.type} requests in a review environment: your own, which can read this request's files and nothing else, and is removed when the request is decided.`)
    : h('p', { id: 'review-env-kind', class: 'hint' }, `This workspace has no review environment for ${req.type} requests: review the files through their download links (each checked against its sha256).`);
  // Redraws keep the keyboard user in the section: on the new link, else on its heading.
  const put = (...nodes) => {
    const hadFocus = body.contains(document.activeElement);
    body.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== ''));
    if (hadFocus) (document.getElementById('review-env-link') || heading).focus({ preventScroll: true });
  };

  const draw = (env) => {
    const ur = env?.userResource;
    const st = ur?.deploymentStatus;
    if (!ur || st === 'deleted') {
      if (inReview) {
        put(kind, configured ? openButton : null);
        status.textContent = '';
      } else {
        put();
        status.textContent = 'Your review environment has been removed.';
      }
      return;
    }
    reviewEnvSeen.add(req.id);
    const op = env.operation;
    const words = String(st).replaceAll('_', ' ');
    const uri = connectionUri(ur.properties);
    const failed = String(st).endsWith('_failed');
    const facts = h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'review-env-state' }, badge(st)),
      h('dt', {}, 'Template'), h('dd', {}, `${ur.templateName} ${ur.templateVersion}`),
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, ur.id));
    const progress = h('p', { id: 'review-env-progress', class: 'hint' }, progressOf(op));
    if (!inReview) {
      put(facts, progress);
      status.textContent = st === 'deleting_failed'
        ? `The request is ${req.status.replaceAll('_', ' ')}: removing your review environment failed, and the TRE tries again.`
        : `The request is ${req.status.replaceAll('_', ' ')}: your review environment is being removed (${words}).`;
      return;
    }
    put(kind, facts, progress,
      st === 'deployed' && uri
        ? h('p', {}, h('a', { id: 'review-env-link', class: 'open', href: uri, target: '_blank', rel: 'noopener noreferrer' }, 'Open review environment (new tab)'))
        : null,
      failed ? h('p', { id: 'review-env-error', class: 'field-error' }, `Your review environment could not be made ready (${words})${op?.message ? `: ${op.message}` : '.'}`) : null,
      // Asking again replaces one whose install failed.
      st === 'deployment_failed' ? retry() : null);
    status.textContent = IN_PROGRESS.has(st)
      ? `Your review environment is ${words}; this page follows it.`
      : failed ? `Your review environment failed: ${words}.`
        : `Your review environment is ${words}${st === 'deployed' && uri ? ': open it with the link above.' : '.'}`;
  };

  // Whether to look again: while it deploys, and once the request is decided until it is gone.
  const busy = (env) => {
    const st = env?.userResource?.deploymentStatus;
    if (!st || st === 'deleted') return false;
    return !inReview || IN_PROGRESS.has(st) || IN_PROGRESS.has(env.operation?.status);
  };
  // A reading begun before the button was pressed says nothing about what it made.
  let asked = 0;
  const refresh = async () => {
    const before = asked;
    let env = null;
    try { env = await api('GET', path); } catch (e) { if (e.status !== 404) throw e; }
    // Left or redrawn meanwhile: this section is no longer on the page.
    if (!section.isConnected || before !== asked) return false;
    draw(env);
    return busy(env);
  };
  const follow = async () => {
    try {
      if (await refresh()) poll(refresh);
    } catch (e) {
      status.textContent = `Your review environment could not be read: ${e.message}`;
    }
  };

  const openButton = h('button', { type: 'button', class: 'primary', id: 'review-env-open' }, 'Open review environment');
  const retry = () => {
    openButton.disabled = false;
    openButton.textContent = 'Make a new review environment';
    return h('p', {}, openButton);
  };
  openButton.addEventListener('click', async () => {
    openButton.disabled = true;
    asked += 1;
    status.textContent = 'Asking for your review environment…';
    try {
      const reply = await api('POST', path);
      if (!section.isConnected) return;
      draw(reply);
      if (busy(reply)) poll(refresh);
    } catch (e) {
      openButton.disabled = false;
      status.textContent = `No review environment: ${e.message}`;
      notify(e.message, true);
    }
  });

  const start = () => {
    if (configured || had()) follow();
    else draw(null);
  };
  draw(null);
  if (!inReview) status.textContent = 'Looking for your review environment…';
  return { section, start };
}

// Reads the file through its signed link, checks it against the sha256 the airlock measured,
// and only then hands it to the browser to save.
async function download(ws, id, f) {
  const say = (t) => { document.getElementById('download-status').textContent = t; };
  try {
    const link = await api('GET', `${reqPath(ws, id)}/files/${enc(f.name)}/link`);
    say(`Downloading ${f.name}…`);
    const r = await fetch(link.url);
    if (!r.ok) throw new Error(`the storage refused the download (${r.status})`);
    const blob = await r.blob();
    const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))]
      .map((b) => b.toString(16).padStart(2, '0')).join('');
    if (f.sha256 && sha !== f.sha256) throw new Error(`${f.name} does not match its sha256 (got ${sha}); not saved`);
    const a = h('a', { href: URL.createObjectURL(blob), download: f.name, hidden: true }, f.name);
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    say(`Downloaded ${f.name} (${bytes(blob.size)}), sha256 ${sha} verified.`);
  } catch (e) {
    say('');
    notify(e.message, true);
  }
}

function reviewForm(ws, id) {
  const error = h('p', { id: 'comment-error', class: 'field-error', hidden: true });
  const comment = h('textarea', {
    id: 'review-comment', name: 'comment', required: true, 'aria-describedby': 'comment-hint comment-error',
  });
  const form = h('form', { class: 'review', 'aria-labelledby': 'review-heading', novalidate: true },
    h('h2', { id: 'review-heading' }, 'Your review'),
    h('label', { for: 'review-comment' }, 'Comment (required)'),
    h('p', { id: 'comment-hint', class: 'hint' }, 'Say why you approve or reject: the requester and the audit history see it.'),
    comment,
    error,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', name: 'decision', value: 'approve', id: 'approve' }, 'Approve'),
      h('button', { type: 'submit', class: 'danger', name: 'decision', value: 'reject', id: 'reject' }, 'Reject')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const decision = ev.submitter?.value;
    const text = comment.value.trim();
    if (!text) {
      error.hidden = false;
      error.textContent = 'A comment is required to approve or reject.';
      comment.setAttribute('aria-invalid', 'true');
      comment.focus();
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      const approval = decision === 'approve';
      const { airlockRequest: updated } = await api('POST', `${reqPath(ws, id)}/review`, { approval, decisionExplanation: text });
      notify(`${approval ? 'Approved' : 'Rejected'}: the request is now ${updated.status.replaceAll('_', ' ')}.`);
      await requestPage(ws, id);
      window.scrollTo(0, 0);
    } catch (e) {
      notify(e.message, true);
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  });
  return form;
}

async function templatesPage() {
  const kinds = [
    ['Workspace templates', '/api/workspace-templates'],
    ['Workspace service templates', '/api/workspace-service-templates'],
    ['User resource templates', '/api/user-resource-templates'],
    ['Shared service templates', '/api/shared-service-templates'],
  ];
  const lists = await Promise.all(kinds.map(([, path]) => api('GET', path)));
  // List entries carry the current version; user-resource ones name their service template.
  show(
    h('h1', {}, 'Templates'),
    kinds.map(([title], i) => [
      h('h2', {}, title),
      table(title, ['Name', 'Version', 'Title', 'Description', 'Custom actions', 'Service template'],
        lists[i].templates.map((t) => [mono(t.name), t.version, t.title, t.description,
          (t.customActions || []).map((a) => a.name).join(', '),
          t.parentWorkspaceService ? mono(t.parentWorkspaceService) : '']),
        'None registered.'),
    ]),
  );
}

async function sharedServicesPage() {
  const { sharedServices } = await apiAll('/api/shared-services', 'sharedServices');
  show(
    h('h1', {}, 'Shared services'),
    table('Shared services', ['Name', 'Template', 'Status', 'Updated'],
      sharedServices.map((s) => [displayName(s), `${s.templateName} ${s.templateVersion}`,
        badge(s.deploymentStatus), when(s.updatedWhen)]),
      'No shared services.'),
  );
}

// ---------- data sources (TRE admins): register, import, review, bind ----------

const dsPath = (id) => `/api/datasources/${enc(id)}`;
const DS_BUSY = new Set(['Importing']);

// Data states in words; the badge's class only adds colour.
function dataBadge(s) {
  const kind = s === 'Completed' ? 'ok' : s === 'Failed' ? 'bad' : 'wait';
  const words = { Pending: 'pending', Importing: 'importing', InReview: 'in review', Completed: 'completed', Failed: 'failed' };
  return h('span', { class: `status ${kind}` }, words[s] || s);
}

function connectionText(c) {
  if (!c) return 'uploaded through the console or CLI';
  if (c.type === 'https') return `HTTPS: ${c.baseUrl}`;
  if (c.type === 's3') return `S3: s3://${c.bucket}/${c.prefix}`;
  if (c.type === 'postgres') return `PostgreSQL: ${c.user}@${c.host}:${c.port}/${c.database}, table ${c.table} as ${c.format}`;
  return c.type;
}

async function dataSourcesPage() {
  const { dataSources } = await apiAll('/api/datasources', 'dataSources');
  show(
    h('h1', {}, 'Data sources'),
    h('p', { class: 'hint' }, 'Where source data lives, who publishes it and under which licence. An import fetches it; a review accepts or refuses it; a completed source can be bound to workspaces.'),
    h('p', {}, h('a', { href: '#/datasources/new', id: 'new-datasource' }, 'Register a data source')),
    table('Registered data sources', ['Name', 'Project', 'Kind', 'State', 'Licence', 'Updated'],
      dataSources.map((d) => [
        h('a', { href: `#/datasources/${enc(d.id)}` }, d.displayName),
        d.project, d.kind, dataBadge(d.dataState), d.licence, when(d.updatedAt),
      ]),
      'No data sources are registered.'),
  );
}

// One labelled text field of the registration form; `hint` is read with it.
function dsField(id, label, { hint, required = true, type = 'text', value = '', textarea = false } = {}) {
  const attrs = { id, name: id, required, 'aria-describedby': hint ? `${id}-hint` : undefined };
  const control = textarea
    ? h('textarea', attrs, value)
    : h('input', { ...attrs, type, value });
  return h('div', { class: 'field', 'data-for': id },
    h('label', { for: id }, `${label}${required ? ' (required)' : ''}`),
    hint ? h('p', { id: `${id}-hint`, class: 'hint' }, hint) : '',
    control);
}

// Which fields each kind of connection asks for.
const CONNECTION_FIELDS = {
  https: [['ds-base-url', 'Base URL', { hint: 'The objects are paths under it, e.g. https://data.example.org/exports', type: 'url' }]],
  s3: [['ds-bucket', 'Bucket', {}], ['ds-prefix', 'Prefix', { hint: 'The objects are keys under it', required: false }]],
  postgres: [
    ['ds-host', 'Host', {}], ['ds-port', 'Port', { type: 'number', value: '5432' }], ['ds-database', 'Database', {}],
    ['ds-user', 'User', {}], ['ds-table', 'Table', { hint: 'table or schema.table; exported whole' }],
    ['ds-ca', 'CA certificate (PEM)', { required: false, textarea: true, hint: 'With it the import connects over TLS and verifies the server; without it only a server on the import runner’s own machine is reached' }],
  ],
  uploaded: [],
};

function newDataSourcePage() {
  const errors = h('div', { id: 'datasource-errors', class: 'field-error', role: 'alert', tabindex: '-1' });
  const kind = h('select', { id: 'ds-kind', name: 'ds-kind' },
    h('option', { value: 'https' }, 'Import over HTTPS'),
    h('option', { value: 's3' }, 'Import from S3'),
    h('option', { value: 'postgres' }, 'Import a PostgreSQL table'),
    h('option', { value: 'uploaded' }, 'Uploaded files'));
  const connection = h('div', { id: 'ds-connection' });
  const drawConnection = () => {
    const k = kind.value;
    const fields = CONNECTION_FIELDS[k].map(([id, label, o]) => dsField(id, label, o));
    if (k === 'postgres') {
      fields.push(h('div', { class: 'field' }, h('label', { for: 'ds-format' }, 'Export format'),
        h('select', { id: 'ds-format', name: 'ds-format' }, h('option', { value: 'csv' }, 'CSV'), h('option', { value: 'parquet' }, 'Parquet'))));
    }
    if (k !== 'uploaded') {
      fields.push(dsField('ds-objects', 'Objects', { textarea: true, required: k !== 'postgres', hint: 'One path or key per line' }));
      fields.push(dsField('ds-secret', 'Credentials secret', { required: false, hint: 'The name of the secret holding the credentials — never the credentials themselves' }));
    }
    connection.replaceChildren(...fields);
  };
  kind.addEventListener('change', drawConnection);
  drawConnection();
  const form = h('form', { class: 'schema', id: 'datasource-form', novalidate: true, 'aria-labelledby': 'ds-heading' },
    h('h2', { id: 'ds-heading' }, 'Where the data is, and who publishes it'),
    dsField('ds-name', 'Name'),
    dsField('ds-description', 'Description', { required: false, textarea: true }),
    dsField('ds-project', 'Project'),
    dsField('ds-licence', 'Licence', { hint: 'An SPDX identifier (e.g. CC-BY-4.0) or an https URL' }),
    dsField('ds-organisation', 'Publishing organisation'),
    dsField('ds-contact-name', 'Contact name'),
    dsField('ds-contact-role', 'Contact role'),
    h('div', { class: 'field' }, h('label', { for: 'ds-kind' }, 'Kind'), kind),
    connection,
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'register-datasource' }, 'Register')));
  const val = (id) => document.getElementById(id)?.value.trim() ?? '';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const k = kind.value;
    const body = {
      kind: k === 'uploaded' ? 'Uploaded' : 'Import',
      displayName: val('ds-name'), description: val('ds-description'), project: val('ds-project'),
      licence: val('ds-licence'),
      publisher: { organisation: val('ds-organisation'), contactName: val('ds-contact-name'), contactRole: val('ds-contact-role') },
    };
    if (k === 'https') body.connection = { type: 'https', baseUrl: val('ds-base-url') };
    if (k === 's3') body.connection = { type: 's3', bucket: val('ds-bucket'), prefix: val('ds-prefix') };
    if (k === 'postgres') {
      body.connection = {
        type: 'postgres', host: val('ds-host'), port: Number(val('ds-port')), database: val('ds-database'),
        user: val('ds-user'), table: val('ds-table'), format: val('ds-format'),
      };
      if (val('ds-ca')) body.connection.caCertificate = document.getElementById('ds-ca').value;
    }
    if (k !== 'uploaded') {
      body.objects = val('ds-objects').split('\n').map((s) => s.trim()).filter(Boolean);
      if (val('ds-secret')) body.credentialsSecret = val('ds-secret');
    }
    // The API checks every field (the same rules as for the CLI); its message names the field.
    const button = document.getElementById('register-datasource');
    button.disabled = true;
    try {
      const created = await api('POST', '/api/datasources', body);
      notify(`Registered “${created.displayName}”.`);
      location.hash = `#/datasources/${enc(created.id)}`;
    } catch (e) {
      errors.textContent = e.message;
      button.disabled = false;
      errors.focus?.();
    }
  });
  show(
    h('p', {}, h('a', { href: '#/datasources' }, '← Data sources')),
    h('h1', {}, 'Register a data source'),
    h('p', { class: 'hint' }, 'Credentials are never entered here: name the secret that holds them, and the import reads it when it runs.'),
    form,
  );
}

function dsReviewForm(id, reload) {
  const error = h('p', { id: 'ds-comment-error', class: 'field-error', hidden: true });
  const comment = h('textarea', { id: 'ds-review-comment', name: 'comment', required: true, 'aria-describedby': 'ds-comment-hint ds-comment-error' });
  const form = h('form', { class: 'review', id: 'datasource-review', novalidate: true, 'aria-labelledby': 'ds-review-heading' },
    h('h2', { id: 'ds-review-heading' }, 'Your review'),
    h('label', { for: 'ds-review-comment' }, 'Comment (required)'),
    h('p', { id: 'ds-comment-hint', class: 'hint' }, 'Say why the data is accepted or refused. Rejecting deletes the imported files.'),
    comment, error,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', value: 'approve', id: 'ds-approve' }, 'Approve'),
      h('button', { type: 'submit', class: 'danger', value: 'reject', id: 'ds-reject' }, 'Reject')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const decision = ev.submitter?.value;
    const text = comment.value.trim();
    if (!text) {
      error.hidden = false;
      error.textContent = 'A comment is required to approve or reject.';
      comment.setAttribute('aria-invalid', 'true');
      comment.focus();
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      const ds = await api('POST', `${dsPath(id)}/review`, { decision, comment: text });
      notify(`${decision === 'approve' ? 'Approved' : 'Rejected'}: the data source is now ${ds.dataState === 'Completed' ? 'completed' : 'failed'}.`);
      await reload();
    } catch (e) {
      notify(e.message, true);
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  });
  return form;
}

// An Uploaded source is filled file by file through the links the API signs; the next import
// takes what was uploaded.
function dsUploadSection(id, reload) {
  const input = h('input', { type: 'file', id: 'ds-files', multiple: true, 'aria-describedby': 'ds-files-hint' });
  const list = h('ul', { class: 'uploads', id: 'ds-upload-list' });
  const summary = h('p', { id: 'ds-upload-summary', role: 'status', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', id: 'ds-upload' }, 'Upload');
  button.addEventListener('click', async () => {
    const files = [...input.files];
    if (!files.length) { summary.textContent = 'Choose one or more files first.'; return; }
    button.disabled = true;
    let done = 0;
    for (const file of files) {
      const row = uploadRow(file);
      list.append(row.row);
      try {
        const link = await api('POST', `${dsPath(id)}/files`, { name: file.name });
        if (link.method !== 'PUT') throw new Error(`the API offered a ${link.method} link, which this page cannot use`);
        row.say('uploading');
        await putWithRetries(link.url, file, row.progress, row, file.name);
        row.progress(file.size);
        row.say('uploaded');
        done += 1;
      } catch (e) {
        row.say(e.message === 'cancelled' ? 'cancelled' : `failed: ${e.message}`);
      }
      row.cancel.disabled = true;
      summary.textContent = `${done} of ${files.length} files uploaded.`;
    }
    notify(`${done} of ${files.length} files uploaded; the next import takes them.`);
    await reload();
  });
  return h('div', { class: 'upload-section' },
    h('h2', {}, 'Upload files'),
    h('label', { for: 'ds-files' }, 'Files'),
    h('p', { id: 'ds-files-hint', class: 'hint' }, 'Each file goes straight to the import staging area; start the import when all are up.'),
    input, ' ', button, list, summary);
}

async function dataSourcePage(id) {
  // Which workspaces it is bound to: each workspace's list of bound sources.
  const load = async () => {
    const [ds, { workspaces }] = await Promise.all([api('GET', dsPath(id)), apiAll('/api/workspaces', 'workspaces')]);
    const bound = await Promise.all(workspaces.map(async (w) => {
      const { dataSources } = await apiAll(`${wsPath(w.id)}/datasources`, 'dataSources').catch(() => ({ dataSources: [] }));
      return dataSources.some((b) => b.dataSourceId === id);
    }));
    return { ds, workspaces, bound };
  };
  const reload = async () => { stopTimers(); await dataSourcePage(id); };
  const act = async (what, call, done) => {
    try { await call(); notify(done); } catch (e) { notify(`${what} failed: ${e.message}`, true); }
    await reload();
  };
  const draw = ({ ds, workspaces, bound }) => {
    const canImport = ds.kind === 'Import' || ds.uploads?.length;
    const boundTo = workspaces.filter((_, i) => bound[i]);
    const unbound = workspaces.filter((_, i) => !bound[i]);
    show(
      h('p', {}, h('a', { href: '#/datasources' }, '← Data sources')),
      h('h1', {}, `Data source: ${ds.displayName}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'State'), h('dd', { id: 'datasource-state', role: 'status', 'aria-live': 'polite' }, dataBadge(ds.dataState),
          ds.dataState === 'Importing' ? ' — the page refreshes by itself' : ''),
        ds.failureReason ? [h('dt', {}, 'Why it failed'), h('dd', { class: 'field-error' }, ds.failureReason)] : '',
        h('dt', {}, 'Project'), h('dd', {}, ds.project),
        h('dt', {}, 'Description'), h('dd', {}, ds.description || '—'),
        h('dt', {}, 'Licence'), h('dd', {}, ds.licence),
        h('dt', {}, 'Publisher'), h('dd', {}, `${ds.publisher.organisation} (${ds.publisher.contactName}, ${ds.publisher.contactRole})`),
        h('dt', {}, 'Connection'), h('dd', { class: 'mono' }, connectionText(ds.connection)),
        h('dt', {}, 'Credentials secret'), h('dd', { class: 'mono' }, ds.credentialsSecret || 'none'),
        h('dt', {}, 'Objects'), h('dd', { class: 'mono' }, (ds.objects || []).join(', ') || '—'),
        h('dt', {}, 'Imports run'), h('dd', {}, String(ds.run || 0)),
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, ds.id)),
      h('div', { class: 'actions' },
        canImport ? h('button', {
          type: 'button', class: 'primary', id: 'start-import', disabled: ['Importing', 'InReview'].includes(ds.dataState),
          onclick: () => act('The import', () => api('POST', `${dsPath(id)}/import`), 'The import has started.'),
        }, ds.run ? 'Import again' : 'Start the import') : ''),
      ds.kind === 'Uploaded' && !['Importing', 'InReview'].includes(ds.dataState) ? dsUploadSection(id, reload) : '',
      ds.uploads?.length ? [h('h2', {}, 'Uploaded, for the next import'), h('ul', { id: 'ds-uploads' }, ds.uploads.map((u) => h('li', { class: 'mono' }, u)))] : '',
      h('h2', {}, 'Files'),
      table('Files the last import brought in', ['Name', 'Size', 'SHA-256', 'Format'],
        (ds.files || []).map((f) => [mono(f.name), bytes(f.size), mono(f.sha256), f.encodingFormat]),
        ds.dataState === 'Importing' ? 'Importing…' : 'No files imported.'),
      h('h2', {}, 'Review'),
      ds.review
        ? h('dl', { class: 'facts', id: 'datasource-review-result' },
          h('dt', {}, 'Decision'), h('dd', {}, badge(ds.review.decision === 'approve' ? 'approved' : 'rejected')),
          h('dt', {}, 'Reviewer'), h('dd', {}, ds.review.reviewer),
          h('dt', {}, 'Comment'), h('dd', {}, ds.review.comment),
          h('dt', {}, 'When'), h('dd', {}, when(ds.review.at)))
        : h('p', { class: 'hint' }, 'Not reviewed yet.'),
      ds.dataState === 'InReview' ? dsReviewForm(id, reload) : '',
      h('h2', {}, 'Workspaces'),
      table('Workspaces this data source is bound to', ['Workspace', ''],
        boundTo.map((w) => [
          h('a', { href: `#/workspaces/${enc(w.id)}` }, displayName(w)),
          h('button', {
            type: 'button', class: 'danger', id: `unbind-${w.id}`,
            onclick: () => act('Unbinding', () => api('DELETE', `${wsPath(w.id)}/datasources/${enc(id)}`), `Unbound from “${displayName(w)}”.`),
          }, `Unbind from ${displayName(w)}`),
        ]), 'Not bound to any workspace.'),
      ds.dataState === 'Completed' && unbound.length
        ? h('form', { class: 'review', id: 'bind-form', novalidate: true, 'aria-labelledby': 'bind-heading' },
          h('h3', { id: 'bind-heading' }, 'Bind to a workspace'),
          h('p', { class: 'hint' }, 'Its people may then read the data, and its bundles are told where it is.'),
          h('label', { for: 'bind-workspace' }, 'Workspace'),
          h('select', { id: 'bind-workspace', name: 'workspace' }, unbound.map((w) => h('option', { value: w.id }, displayName(w)))),
          h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'bind' }, 'Bind')))
        : h('p', { class: 'hint' }, ds.dataState === 'Completed' ? 'It is bound to every workspace.' : 'Only a completed (imported and approved) data source can be bound.'),
    );
    document.getElementById('bind-form')?.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const ws = document.getElementById('bind-workspace').value;
      const w = workspaces.find((x) => x.id === ws);
      act('Binding', () => api('POST', `${wsPath(ws)}/datasources`, { dataSourceId: id }), `Bound to “${displayName(w)}”.`);
    });
  };
  const first = await load();
  draw(first);
  if (DS_BUSY.has(first.ds.dataState)) {
    poll(async () => {
      const next = await load();
      draw(next);
      return DS_BUSY.has(next.ds.dataState);
    });
  }
}

// ---------- at a glance: a workspace's operation outcomes per day and airlock requests by status ----------

const SVG_NS = 'http://www.w3.org/2000/svg';

// Like `h`, for SVG elements (presentation attributes only: the CSP allows no inline style).
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The UTC day of a POSIX-seconds or RFC 3339 time, as YYYY-MM-DD.
const dayOf = (t) => (typeof t === 'number' ? new Date(t * 1000) : new Date(t)).toISOString().slice(0, 10);

// How an operation ends well (a deletion too); every `..._failed` status is a failure.
const OP_SUCCEEDED = new Set(['deployed', 'updated', 'deleted', 'action_succeeded']);

// Ended operations per day (the last 14 days that had any), oldest first; running ones are not
// outcomes yet.
function outcomesPerDay(ops) {
  const days = new Map();
  for (const o of ops) {
    const outcome = OP_SUCCEEDED.has(o.status) ? 'succeeded' : o.status.endsWith('_failed') ? 'failed' : null;
    if (!outcome) continue;
    const d = dayOf(o.updatedWhen || o.createdWhen);
    const row = days.get(d) || { day: d, succeeded: 0, failed: 0 };
    row[outcome] += 1;
    days.set(d, row);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day)).slice(-14);
}

function requestsByStatus(requests) {
  const counts = new Map();
  for (const r of requests) counts.set(r.status, (counts.get(r.status) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

// Bars are told apart by a hatch and their words in the legend and labels, not by colour alone.
function glanceChart(ops, requests) {
  const days = outcomesPerDay(ops);
  const statuses = requests ? requestsByStatus(requests) : [];
  const W = 680; const H = 230; const left = 36; const bottom = 40; const top = 34;
  const opsWidth = requests ? 380 : W - left - 10;
  const plotH = H - top - bottom;
  const max = Math.max(1, ...days.map((d) => Math.max(d.succeeded, d.failed)));
  const y = (n) => top + plotH - (n / max) * plotH;
  const group = days.length ? Math.min(80, opsWidth / days.length) : opsWidth;
  const bar = Math.max(6, (group - 12) / 2);
  const opsBars = days.flatMap((d, i) => {
    const x = left + i * group + 6;
    return [
      ['succeeded', d.succeeded, x, 'bar-ok'],
      ['failed', d.failed, x + bar, 'bar-failed'],
    ].map(([what, n, bx, cls]) => s('g', {},
      s('rect', { class: cls, fill: cls === 'bar-failed' ? 'url(#hatch)' : undefined, x: bx, y: y(n), width: bar - 2, height: Math.max(0, top + plotH - y(n)) },
        s('title', {}, `${d.day}: ${n} ${what}`)),
      s('text', { class: 'chart-value', x: bx + (bar - 2) / 2, y: y(n) - 4, 'text-anchor': 'middle' }, String(n))))
      .concat(s('text', { class: 'chart-axis', x: x + bar, y: H - bottom + 16, 'text-anchor': 'middle' }, d.day.slice(5)));
  });
  const rx = left + opsWidth + 40; const rw = W - rx - 10;
  const rmax = Math.max(1, ...statuses.map(([, n]) => n));
  const rowH = statuses.length ? Math.min(24, plotH / statuses.length) : 24;
  const reqBars = statuses.map(([st, n], i) => {
    const ry = top + i * rowH;
    const words = st.replaceAll('_', ' ');
    const w = (n / rmax) * (rw - 110);
    return s('g', {},
      s('text', { class: 'chart-axis', x: rx, y: ry + rowH * 0.7 }, words),
      s('rect', { class: 'bar-req', x: rx + 100, y: ry + 3, width: Math.max(1, w), height: rowH - 6 },
        s('title', {}, `${n} ${words}`)),
      s('text', { class: 'chart-value', x: rx + 104 + w, y: ry + rowH * 0.7 }, String(n)));
  });
  const summary = `Operation outcomes over ${days.length} day${days.length === 1 ? '' : 's'}: `
    + `${days.reduce((a, d) => a + d.succeeded, 0)} succeeded, ${days.reduce((a, d) => a + d.failed, 0)} failed.`
    + (requests ? ` Airlock requests: ${statuses.map(([st, n]) => `${n} ${st.replaceAll('_', ' ')}`).join(', ') || 'none'}.` : '');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'glance-title glance-desc' },
    s('title', { id: 'glance-title' }, 'Workspace activity at a glance'),
    s('desc', { id: 'glance-desc' }, summary),
    s('defs', {}, s('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('rect', { class: 'bar-bad', width: 6, height: 6 }), s('line', { class: 'hatch-line', x1: 0, y1: 0, x2: 0, y2: 6 }))),
    s('text', { class: 'chart-heading', x: left, y: 14 }, 'Operations per day'),
    s('line', { class: 'chart-baseline', x1: left, y1: top + plotH, x2: left + opsWidth, y2: top + plotH }),
    s('text', { class: 'chart-axis', x: left - 6, y: top + 4, 'text-anchor': 'end' }, String(max)),
    s('text', { class: 'chart-axis', x: left - 6, y: top + plotH, 'text-anchor': 'end' }, '0'),
    days.length ? opsBars : s('text', { class: 'chart-axis', x: left + 8, y: top + plotH / 2 }, 'No operation has ended yet'),
    s('g', { class: 'legend' },
      s('rect', { class: 'bar-ok', x: left, y: H - 14, width: 12, height: 12 }),
      s('text', { class: 'chart-axis', x: left + 16, y: H - 4 }, 'succeeded'),
      s('rect', { class: 'bar-failed', fill: 'url(#hatch)', x: left + 100, y: H - 14, width: 12, height: 12 }),
      s('text', { class: 'chart-axis', x: left + 116, y: H - 4 }, 'failed (hatched)')),
    requests ? [
      s('text', { class: 'chart-heading', x: rx, y: 14 }, 'Airlock requests'),
      statuses.length ? reqBars : s('text', { class: 'chart-axis', x: rx, y: top + 16 }, 'No airlock requests'),
    ] : null);
  return h('figure', { class: 'glance', id: 'glance' },
    svg,
    h('figcaption', { class: 'hint' }, summary),
    h('div', { class: 'glance-tables' },
      table('Operation outcomes per day', ['Day (UTC)', 'Succeeded', 'Failed'],
        days.map((d) => [d.day, String(d.succeeded), String(d.failed)]), 'No operation has ended yet.'),
      requests ? table('Airlock requests by status', ['Status', 'Requests'],
        statuses.map(([st, n]) => [st.replaceAll('_', ' '), String(n)]), 'No airlock requests.') : ''));
}

// ---------- start ----------

async function start() {
  const r = await fetch('config.json', { cache: 'no-store' });
  if (!r.ok) throw new Error(`The console's configuration could not be loaded (${r.status}).`);
  const cfg = await r.json();
  state.config = {
    apiUrl: (cfg.apiUrl || '').replace(/\/$/, ''),
    issuer: cfg.issuer,
    clientId: cfg.clientId,
    scope: cfg.scope || 'openid profile email',
    tokenField: cfg.tokenField || 'access_token',
    redirectUri: cfg.redirectUri || new URL('.', location.href).toString(),
  };
  // Sign-in only returns to the registered address: continue there if opened under another name.
  const canonical = new URL(state.config.redirectUri);
  if (canonical.origin !== location.origin) {
    location.replace(canonical.toString() + location.search + location.hash);
    return;
  }
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) {
    try { await finishSignIn(params); } catch (e) { notify(e.message, true); }
  }
  window.addEventListener('hashchange', () => { notify(''); render(); });
  await render();
}

start().catch((e) => {
  notify(e.message, true);
  show(h('h1', {}, 'The console could not start'), h('p', {}, e.message));
});

// The TRE console: one page on the TRE API. Every action is an API call made with the signed-in
// user's token, so the API applies the same rules as for the CLI; the console only hides what
// cannot apply to the user (a researcher has no review queue).

const state = { config: null, oidc: null, me: null, timers: [] };

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
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
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
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const token = currentToken();
  if (!token) throw new ApiError('Your session has ended. Please sign in again.', 401);
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
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
    throw new ApiError(data?.detail || data?.title || `${r.status} ${r.statusText}`, r.status);
  }
  return data;
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
  const links = [['#/workspaces', 'Workspaces']];
  if (isAirlockManager()) links.push(['#/review', 'Review queue']);
  links.push(['#/templates', 'Templates']);
  if (isAdmin()) links.push(['#/shared-services', 'Shared services']);
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
}

// Re-runs `refresh` every two seconds while it returns true (something is still in progress),
// until the user navigates away.
function poll(refresh) {
  const tick = async () => {
    let again = false;
    try { again = await refresh(); } catch (e) { notify(e.message, true); }
    if (again) state.timers.push(setTimeout(tick, 2000));
  };
  state.timers.push(setTimeout(tick, 2000));
}

const routes = [
  [/^#\/?$/, () => { location.replace('#/workspaces'); }],
  [/^#\/workspaces$/, workspacesPage],
  [/^#\/workspaces\/([^/]+)$/, workspacePage],
  [/^#\/workspaces\/([^/]+)\/services\/([^/]+)$/, servicePage],
  [/^#\/workspaces\/([^/]+)\/operations\/([^/]+)$/, operationPage],
  [/^#\/workspaces\/([^/]+)\/requests\/([^/]+)$/, requestPage],
  [/^#\/review$/, reviewQueuePage],
  [/^#\/templates$/, templatesPage],
  [/^#\/shared-services$/, sharedServicesPage],
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
  const { workspaces } = await api('GET', '/api/workspaces');
  show(
    h('h1', {}, 'Workspaces'),
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
      api('GET', `${wsPath(ws)}/workspace-services`),
      api('GET', `${wsPath(ws)}/operations`),
    ]);
    let requests = null;
    const roles = rolesIn(ws);
    if (roles.length > 0) {
      requests = (await api('GET', `${wsPath(ws)}/requests`)).airlockRequests.map((i) => i.airlockRequest);
    }
    return { workspace, workspaceServices, operations, requests };
  };
  const draw = ({ workspace, workspaceServices, operations, requests }) => {
    show(
      h('h1', {}, `Workspace: ${displayName(workspace)}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, badge(workspace.deploymentStatus)),
        h('dt', {}, 'Template'), h('dd', {}, `${workspace.templateName} ${workspace.templateVersion}`),
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, workspace.id),
        h('dt', {}, 'Your roles'), h('dd', {}, rolesIn(ws).join(', ') || 'none (TRE admin)')),
      h('h2', {}, 'Workspace services'),
      table('Services of this workspace', ['Name', 'Template', 'Status', 'Updated'],
        workspaceServices.map((s) => [
          h('a', { href: `#/workspaces/${enc(ws)}/services/${enc(s.id)}` }, displayName(s)),
          `${s.templateName} ${s.templateVersion}`,
          badge(s.deploymentStatus),
          when(s.updatedWhen),
        ]), 'No workspace services.'),
      h('h2', {}, 'Operations'),
      operationsTable(ws, operations),
      requests === null ? '' : h('h2', {}, 'Airlock requests'),
      requests === null ? '' : table('Airlock requests of this workspace', ['Title', 'Type', 'Status', 'Files', 'Updated'],
        requests.map((r) => [
          h('a', { href: `#/workspaces/${enc(ws)}/requests/${enc(r.id)}` }, r.title),
          r.type, badge(r.status), String(r.files.length), when(r.updatedWhen),
        ]), 'No airlock requests.'),
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

async function servicePage(ws, svc) {
  const [{ workspaceService: service }, { userResources }, { operations }] = await Promise.all([
    api('GET', svcPath(ws, svc)),
    api('GET', `${svcPath(ws, svc)}/user-resources`),
    api('GET', `${svcPath(ws, svc)}/operations`),
  ]);
  show(
    h('p', {}, h('a', { href: `#/workspaces/${enc(ws)}` }, '← Back to the workspace')),
    h('h1', {}, `Workspace service: ${displayName(service)}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', {}, badge(service.deploymentStatus)),
      h('dt', {}, 'Template'), h('dd', {}, `${service.templateName} ${service.templateVersion}`),
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, service.id)),
    h('h2', {}, 'User resources'),
    table('User resources of this service', ['Name', 'Template', 'Owner', 'Status', 'Updated'],
      userResources.map((u) => [displayName(u), `${u.templateName} ${u.templateVersion}`, u.ownerId,
        badge(u.deploymentStatus), when(u.updatedWhen)]),
      'No user resources you can see.'),
    h('h2', {}, 'Operations on this service'),
    table('Operations, newest first', ['Action', 'Status', 'Message', 'Started'],
      operations.map((o) => [o.action, badge(o.status), o.message, when(o.createdWhen)]),
      'No operations yet.'),
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

async function reviewQueuePage() {
  if (!isAirlockManager()) {
    show(h('h1', {}, 'Review queue'),
      h('p', {}, 'You are not an airlock manager in any workspace, so no requests wait for your review.'));
    return;
  }
  const { airlockRequests } = await api('GET', '/api/airlock/review-queue');
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
  const { airlockRequest: req, allowedUserActions } = await api('GET', reqPath(ws, id));
  // The API says what the caller may do with the request now.
  const canReview = allowedUserActions.includes('review');

  const fileRows = req.files.map((f) => [
    mono(f.name), bytes(f.size), mono(f.sha256 || 'not measured yet'),
    canReview ? h('button', { type: 'button', onclick: () => download(ws, id, f.name) }, `Download ${f.name}`) : '',
  ]);
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
    table('Files of this request', ['Name', 'Size', 'SHA-256', ''], fileRows, 'No files.'),
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
  if (['submitted', 'approval_in_progress', 'rejection_in_progress', 'blocking_in_progress'].includes(req.status)) {
    poll(async () => {
      const { airlockRequest: next } = await api('GET', reqPath(ws, id));
      if (next.status !== req.status) { await requestPage(ws, id); return false; }
      return true;
    });
  }
}

async function download(ws, id, name) {
  try {
    const link = await api('GET', `${reqPath(ws, id)}/files/${enc(name)}/link`);
    location.assign(link.url);
  } catch (e) {
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
  const { sharedServices } = await api('GET', '/api/shared-services');
  show(
    h('h1', {}, 'Shared services'),
    table('Shared services', ['Name', 'Template', 'Status', 'Updated'],
      sharedServices.map((s) => [displayName(s), `${s.templateName} ${s.templateVersion}`,
        badge(s.deploymentStatus), when(s.updatedWhen)]),
      'No shared services.'),
  );
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

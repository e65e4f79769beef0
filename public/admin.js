// The operator's page: plain browser JavaScript, served as it is by the gateway (no build step).
// It asks /api/sessions every two seconds (any pod answers for the whole fleet) and disconnects
// through /api/disconnect. The admin key is kept in this tab's sessionStorage, never in a URL.
const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const KEY = 'dws.adminKey';
let seen = new Set();
let timer;

$('keyForm').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  refresh();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  setHealth('not connected', '');
  $('pods').replaceChildren();
  showSessions([]);
});
for (const id of ['company', 'agent', 'user']) $(id).addEventListener('input', () => refresh());

function setHealth(text, kind) {
  $('health').textContent = text;
  $('health').className = `health ${kind}`;
}

function note(text, kind = '') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('activity').prepend(li);
  while ($('activity').children.length > 50) $('activity').lastChild.remove();
}

async function api(path, body) {
  const res = await fetch(path, {
    method: body ? 'POST' : 'GET',
    headers: { 'X-API-Key': sessionStorage.getItem(KEY) ?? '', 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${json.code}: ${json.message}${json.details ? ` (${json.details})` : ''}`);
  return json;
}

/** The filter as the API takes it; the third box is a user id, or an admin id when no company is given. */
function query() {
  const q = new URLSearchParams({ limit: '500' });
  const [company, agent, user] = ['company', 'agent', 'user'].map((id) => $(id).value.trim());
  if (company) q.set('company_id', company);
  if (agent) q.set('agent_id', agent);
  if (user) q.set(company ? 'user_id' : 'admin_id', user);
  return q;
}

async function refresh() {
  clearTimeout(timer);
  timer = setTimeout(refresh, REFRESH_MS);
  if (!sessionStorage.getItem(KEY)) return;
  try {
    const answer = await api(`/api/sessions?${query()}`);
    showPods(answer.pods, answer.complete);
    showSessions(answer.sessions, answer.truncated);
  } catch (err) {
    setHealth('error', 'down');
    note(err.message, 'error');
  }
}

function showPods(pods, complete) {
  const answered = pods.filter((p) => p.answered).length;
  setHealth(
    complete ? `${pods.length} pods, all answering` : `${answered} of ${pods.length} pods answering`,
    complete ? 'ok' : 'partial',
  );
  $('podSummary').textContent = `updated ${new Date().toLocaleTimeString()}`;
  $('pods').replaceChildren(
    ...pods.map((p) => {
      const card = document.createElement('div');
      card.className = `pod${p.answered ? '' : ' silent'}`;
      card.dataset.pod = p.pod_id;
      const figures = p.answered
        ? [
            ['sessions', p.sessions],
            ['events/s', p.events_per_second],
            ['frames/s', p.frames_per_second],
          ]
        : [['did not answer', '—']];
      card.innerHTML = `<div class="id"></div><div class="figures">${figures.map(() => '<span><b></b></span>').join('')}</div>`;
      card.querySelector('.id').textContent = p.pod_id;
      card.querySelectorAll('.figures span').forEach((span, i) => {
        span.querySelector('b').textContent = String(figures[i][1]);
        span.append(figures[i][0]);
      });
      return card;
    }),
  );
}

function showSessions(sessions, truncated = false) {
  $('sessionSummary').textContent = `${sessions.length}${truncated ? '+' : ''} shown`;
  const keyOf = (s) => `${s.pod_id} ${s.type} ${s.company_id ?? ''} ${s.agent_id ?? ''} ${s.user_id ?? s.admin_id}`;
  const rows = sessions.map((s) => {
    const tr = document.createElement('tr');
    const key = keyOf(s);
    if (seen.size > 0 && !seen.has(key)) tr.className = 'new';
    tr.dataset.user = s.user_id ?? s.admin_id;
    const cells = [
      s.pod_id,
      s.type,
      s.company_id ?? '',
      s.agent_id ?? '',
      s.user_id ?? s.admin_id,
      s.chat_id ?? '',
      ago(s.connected_at),
    ];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 0 || i >= 2) td.className = 'mono';
      tr.append(td);
    }
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.className = 'danger';
    button.textContent = 'Disconnect';
    button.addEventListener('click', () => disconnect(s));
    td.append(button);
    tr.append(td);
    return tr;
  });
  seen = new Set(sessions.map(keyOf));
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td colspan="8" class="empty">No session matches.</td>';
    rows.push(tr);
  }
  $('sessions').replaceChildren(...rows);
}

async function disconnect(s) {
  const target =
    s.type === 'admin'
      ? { admin_id: s.admin_id }
      : { company_id: s.company_id, agent_id: s.agent_id, user_id: s.user_id };
  const blockSeconds = Number($('block').value);
  const body = { ...target, reason: $('reason').value || undefined, block_seconds: blockSeconds || undefined };
  try {
    const r = await api('/api/disconnect', body);
    const who = s.user_id ? `${s.company_id}/${s.agent_id}/${s.user_id}` : `admin ${s.admin_id}`;
    note(`disconnected ${who}: ${r.disconnected} session(s)${blockSeconds ? `, blocked ${blockSeconds} s` : ''}`);
    refresh();
  } catch (err) {
    note(err.message, 'error');
  }
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
}

refresh();

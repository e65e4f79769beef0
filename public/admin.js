// The operator's page: plain browser JavaScript, served as it is by the gateway (no build step).
// It asks /api/sessions every two seconds (any pod answers for the whole fleet) and disconnects
// through /api/disconnect. The admin key is kept in this tab's sessionStorage, never in a URL.
const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const KEY = 'dws.adminKey';
/** Samples of events/s kept per pod: five minutes at one per refresh. */
const HISTORY = (5 * 60 * 1000) / REFRESH_MS;
const SVG = 'http://www.w3.org/2000/svg';
const LABELS = ['pod', 'type', 'company', 'agent', 'user / admin', 'chat', 'connected'];
let seen = new Set();
let timer;
/** Per pod: its recent events/s, oldest first. */
const rates = new Map();
/** The session whose Disconnect was pressed: its options row stays open across refreshes. */
let confirming;

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
  $('charts').replaceChildren();
  rates.clear();
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
    showRates(answer.pods);
    // While Disconnect's options are open the table stays as it is: what is typed there is kept.
    if (!confirming) showSessions(answer.sessions, answer.truncated);
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

/** Activity: a chart of events/s per pod over the last five minutes; pods that come and go are noted. */
function showRates(pods) {
  for (const p of pods) {
    if (!rates.has(p.pod_id)) {
      if (rates.size > 0) note(`pod ${p.pod_id} joined`);
      rates.set(p.pod_id, []);
    }
    const samples = rates.get(p.pod_id);
    samples.push(p.answered ? (p.events_per_second ?? 0) : null);
    if (samples.length > HISTORY) samples.shift();
  }
  for (const id of rates.keys()) {
    if (pods.some((p) => p.pod_id === id)) continue;
    note(`pod ${id} left`);
    rates.delete(id);
  }
  $('charts').replaceChildren(...[...rates].map(([id, samples]) => chart(id, samples)));
}

function chart(id, samples) {
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.pod = id;
  const label = document.createElement('div');
  label.className = 'label';
  const name = document.createElement('b');
  name.textContent = id;
  const values = samples.filter((v) => v !== null);
  const now = samples.at(-1);
  const peak = Math.max(1, ...values);
  const figures = document.createElement('span');
  figures.textContent = `${now === null ? 'did not answer' : `${now} events/s`} · peak ${Math.max(0, ...values)}`;
  label.append(name, figures);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${HISTORY - 1} 100`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${id}: events a second, last 5 minutes`);
  const start = HISTORY - samples.length;
  const points = samples.map((v, i) => `${start + i},${100 - ((v ?? 0) / peak) * 96}`);
  if (points.length > 0) {
    const area = document.createElementNS(SVG, 'polygon');
    area.setAttribute('points', `${start},100 ${points.join(' ')} ${HISTORY - 1},100`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.append(area, line);
  }
  box.append(label, svg);
  return box;
}

function identityOf(s) {
  return s.user_id ? `${s.company_id}/${s.agent_id}/${s.user_id}` : `admin ${s.admin_id}`;
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
      td.dataset.label = LABELS[i]; // the column's name, shown beside the value on a phone
      if (i === 0 || i >= 2) td.className = 'mono';
      tr.append(td);
    }
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.className = 'danger';
    button.textContent = 'Disconnect';
    button.addEventListener('click', () => {
      confirming = identityOf(s);
      showSessions(sessions, truncated);
    });
    td.append(button);
    tr.append(td);
    return confirming === identityOf(s) ? [tr, confirmRow(s, () => showSessions(sessions, truncated))] : [tr];
  });
  seen = new Set(sessions.map(keyOf));
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td colspan="8" class="empty">No session matches.</td>';
    rows.push(tr);
  }
  $('sessions').replaceChildren(...rows.flat());
}

/** Disconnect's options, under the session they are for: block for how long, and the reason the user is shown. */
function confirmRow(s, redraw) {
  const row = $('confirmTemplate').content.firstElementChild.cloneNode(true);
  row.dataset.for = s.user_id ?? s.admin_id;
  const form = row.querySelector('form');
  form.querySelector('.who').textContent = identityOf(s);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    confirming = undefined;
    void disconnect(s, Number(form.elements.block.value), form.elements.reason.value);
  });
  form.querySelector('.cancel').addEventListener('click', () => {
    confirming = undefined;
    redraw();
  });
  return row;
}

async function disconnect(s, blockSeconds, reason) {
  const target =
    s.type === 'admin'
      ? { admin_id: s.admin_id }
      : { company_id: s.company_id, agent_id: s.agent_id, user_id: s.user_id };
  const body = { ...target, reason: reason || undefined, block_seconds: blockSeconds || undefined };
  try {
    const r = await api('/api/disconnect', body);
    note(
      `disconnected ${identityOf(s)}: ${r.disconnected} session(s)${blockSeconds ? `, blocked ${blockSeconds} s` : ''}`,
    );
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

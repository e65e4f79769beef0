// The demo page: plain browser JavaScript, served as it is by the gateway (no build step).
const $ = (id) => document.getElementById(id);
const hash = new URLSearchParams(location.hash.slice(1));
$('apiKey').value = hash.get('key') ?? localStorage.getItem('dws.apiKey') ?? '';
$('adminKey').value = hash.get('admin') ?? localStorage.getItem('dws.adminKey') ?? '';
for (const id of ['apiKey', 'adminKey'])
  $(id).addEventListener('change', () => localStorage.setItem(`dws.${id}`, $(id).value));

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    for (const p of document.querySelectorAll('.panel'))
      p.classList.toggle('hidden', p.id !== `tab-${tab.dataset.tab}`);
  });
}

function log(list, kind, text) {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $(list).prepend(li);
}

function setStatus(id, text, kind = '') {
  $(id).textContent = text;
  $(id).className = `status ${kind}`;
}

async function post(path, key, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${json.code}: ${json.message}${json.details ? ` (${json.details})` : ''}`);
  return json;
}

function wsUrl(path, token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const q = new URLSearchParams({ token, 'x-api-key': $('apiKey').value });
  return `${scheme}://${location.host}${path}?${q}`;
}

// Resume (SPEC §11): the page keeps the epoch of `ready` and the seq of the last event; when the
// connection is lost (not closed on purpose, not taken over, not refused) it reconnects with them
// and the gateway replays what it missed.
const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013]);

function open(url, statusId, logId, state = { epoch: '', seq: 0 }) {
  const resumeQuery = state.epoch
    ? `&since=${state.seq}&epoch=${encodeURIComponent(state.epoch)}${state.chatId ? `&chat_id=${encodeURIComponent(state.chatId)}` : ''}`
    : '';
  const socket = new WebSocket(url + resumeQuery, 'json.v1');
  socket.state = state;
  setStatus(statusId, resumeQuery ? 'resuming' : 'connecting');
  socket.onmessage = (m) => {
    const frame = JSON.parse(m.data);
    if (frame.type === 'ready') {
      state.epoch = frame.payload?.epoch ?? '';
      return setStatus(statusId, 'ready', 'ready');
    }
    if (frame.type === 'resumed') return log(logId, 'info', `resumed ${frame.payload.count} events`);
    if (frame.type === 'error') return log(logId, 'error', `error ${frame.payload.code}: ${frame.payload.message}`);
    if (frame.type === 'event') {
      if (frame.seq) state.seq = frame.seq;
      log(logId, 'event', `event ${JSON.stringify(frame.payload)}`);
    }
  };
  socket.onclose = (e) => {
    setStatus(statusId, `closed ${e.code}${e.reason ? ` ${e.reason}` : ''}`, 'closed');
    log(logId, 'info', `closed with ${e.code} ${e.reason}`);
    if (!socket.closedOnPurpose && RETRY_CODES.has(e.code) && state.epoch) {
      log(logId, 'info', `reconnecting from seq ${state.seq}`);
      setTimeout(() => socket.onreconnect?.(open(url, statusId, logId, state)), 1000);
    }
  };
  return socket;
}

function closeOnPurpose(socket) {
  if (!socket) return;
  socket.closedOnPurpose = true;
  socket.close(1000);
}

// Keeps `set` pointed at the live socket of a tab, also after reconnects.
function tracked(set) {
  const track = (socket) => {
    set(socket);
    socket.onreconnect = track;
  };
  return track;
}

let userSocket;
const trackUser = tracked((s) => (userSocket = s));
$('connect').addEventListener('click', async () => {
  closeOnPurpose(userSocket);
  const [company, agent, user] = [$('company').value, $('agent').value, $('user').value];
  try {
    const token =
      $('token').value ||
      (
        await post('/generate-token', $('apiKey').value, {
          company_id: company,
          agent_id: agent,
          user_id: user,
          expires_in_seconds: 3600,
        })
      ).token;
    trackUser(open(wsUrl(`/ws/${encodeURIComponent(company)}/${encodeURIComponent(agent)}`, token), 'status', 'log'));
  } catch (err) {
    log('log', 'error', err.message);
  }
});
$('disconnect').addEventListener('click', () => closeOnPurpose(userSocket));
$('selectChat').addEventListener('click', () => {
  if (userSocket) userSocket.state.chatId = $('chatId').value;
  userSocket?.send(JSON.stringify({ type: 'select_chat', payload: { chat_id: $('chatId').value } }));
  log('log', 'info', `selected chat ${$('chatId').value}`);
});

$('publish').addEventListener('click', async () => {
  const kind = $('publishKind').value;
  const event = {
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    company_id: $('company').value,
    agent_id: $('agent').value,
    ...(kind === 'messages' ? { chat_id: $('publishChat').value } : {}),
    row_data: { text: $('publishText').value },
  };
  try {
    const r = await post('/api/publish', $('adminKey').value, {
      company_id: $('company').value,
      agent_id: $('agent').value,
      kind,
      chat_id: $('publishChat').value,
      event,
    });
    log('log', 'info', `published to ${r.subject} (seq ${r.seq})`);
  } catch (err) {
    log('log', 'error', err.message);
  }
});

let adminSocket;
const trackAdmin = tracked((s) => (adminSocket = s));
$('adminConnect').addEventListener('click', async () => {
  closeOnPurpose(adminSocket);
  const body = {
    admin_id: $('adminId').value,
    expires_in_seconds: 3600,
    subscribed_company_id: $('subCompany').value || undefined,
    subscribed_agent_id: $('subAgent').value || undefined,
    company_id_restriction: $('restriction').value || undefined,
  };
  try {
    const { token } = await post('/admin/generate-token', $('adminKey').value, body);
    trackAdmin(open(wsUrl('/ws/admin', token), 'adminStatus', 'adminLog'));
  } catch (err) {
    log('adminLog', 'error', err.message);
  }
});

// The demo page: plain browser JavaScript, served as it is by the gateway (no build step), on the
// client SDK's browser module that the gateway serves too.
import { DaisiClient } from '/daisi-ws-client.js';

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

function wsBase(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/**
 * A session through the client SDK (the module this gateway serves): it reconnects, resumes from
 * the last event it showed (with the selected chat) and refreshes its token; the page shows its
 * state, each event once, `resumed` and `reset`.
 */
function open(path, token, statusId, logId, chatId) {
  const client = new DaisiClient({ url: wsBase(path), apiKey: $('apiKey').value, token, chatId });
  // A close says why (a refusal, a takeover, an operator's disconnect or block): the reason beside the state.
  client.on('state', (state, { code, reason }) =>
    setStatus(
      statusId,
      state !== 'connected' && code ? `${state} (${code}${reason ? `: ${reason}` : ''})` : state,
      state,
    ),
  );
  client.on('event', (payload, { seq }) => log(logId, 'event', `event ${seq ?? '-'} ${JSON.stringify(payload)}`));
  client.on('resumed', ({ count }) => log(logId, 'info', `resumed ${count} events`));
  client.on('reset', (e) => log(logId, 'error', `reset (${e.message}): reload the state from the back end`));
  client.on('error', (e) => log(logId, 'error', `error ${e.code}: ${e.message}${e.details ? ` (${e.details})` : ''}`));
  client.connect();
  return client;
}

let userClient;
$('connect').addEventListener('click', () => {
  userClient?.close();
  const [company, agent, user] = [$('company').value, $('agent').value, $('user').value];
  const given = $('token').value;
  // Without a token of its own, the page mints one at each connect and before expiry.
  const mint = async () =>
    (
      await post('/generate-token', $('apiKey').value, {
        company_id: company,
        agent_id: agent,
        user_id: user,
        expires_in_seconds: 600,
      })
    ).token;
  const path = `/ws/${encodeURIComponent(company)}/${encodeURIComponent(agent)}`;
  userClient = open(path, given || mint, 'status', 'log', $('chatId').value || undefined);
});
$('disconnect').addEventListener('click', () => userClient?.close());
$('selectChat').addEventListener('click', () => {
  userClient?.selectChat($('chatId').value);
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

let adminClient;
$('adminConnect').addEventListener('click', () => {
  adminClient?.close();
  const body = {
    admin_id: $('adminId').value,
    expires_in_seconds: 600,
    subscribed_company_id: $('subCompany').value || undefined,
    subscribed_agent_id: $('subAgent').value || undefined,
    company_id_restriction: $('restriction').value || undefined,
  };
  const mint = async () => (await post('/admin/generate-token', $('adminKey').value, body)).token;
  adminClient = open('/ws/admin', mint, 'adminStatus', 'adminLog');
});

// Baseline (a): the ceiling for Node. A raw `ws` server that takes the same events from NATS and
// broadcasts them to the same sessions: no auth, no locks, no routing, no gRPC.
import { createServer } from 'node:http';
import { connect } from '@nats-io/transport-node';
import { WebSocketServer, type WebSocket } from 'ws';
import { InboxWire } from '../../src/adapters/nats/inbox-wire.js';
import { OrderedReader } from '../../src/adapters/nats/ordered-reader.js';

// An exit on SIGTERM (not the signal's default) lets --cpu-prof write its profile (bench --profile).
process.on('SIGTERM', () => process.exit(0));

const byAgent = new Map<string, Set<WebSocket>>();
const byChat = new Map<string, Set<WebSocket>>();
const add = (m: Map<string, Set<WebSocket>>, k: string, ws: WebSocket) =>
  (m.get(k) ?? m.set(k, new Set()).get(k)!).add(ws);
/** READER=interest: called with an agent's key when its first session connects. */
let onAgent: (agentKey: string) => void = () => undefined;

const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(process.memoryUsage()));
});
const wss = new WebSocketServer({ server, maxPayload: 65536 });
wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const [, , company, agent] = url.pathname.split('/');
  const agentKey = `${company}.${agent}`;
  if (!byAgent.has(agentKey)) onAgent(agentKey);
  add(byAgent, agentKey, ws);
  let chatKey: string | undefined;
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type !== 'select_chat') return;
    if (chatKey) byChat.get(chatKey)?.delete(ws);
    chatKey = `${agentKey}.${msg.payload.chat_id}`;
    add(byChat, chatKey, ws);
  });
  ws.on('close', () => {
    byAgent.get(agentKey)?.delete(ws);
    if (chatKey) byChat.get(chatKey)?.delete(ws);
  });
  ws.send('{"type":"ready"}');
});

// Every process reads every event of `wa.>` (as every daisi-ws pod does, docs/architecture.md, *How an event travels*),
// through nats.js
// or, with READER=wire, through the gateway's own reader connection (InboxWire) on a plain
// subscription: the cheapest read this repository has, for the fleet's floor (bench `--raw-reader`);
// READER=ordered reads the stream as a pod does (OrderedReader: a push consumer, in order);
// READER=interest subscribes, through nats.js, only to the republished subjects of its own sessions' agents
// (`dws.wa.<company>.<agent>.>`), as a pod reading by interest does: the floor of the disjoint fleet.
const HEAD = Buffer.from('{"type":"event","payload":');
const TAIL = Buffer.from('}');
const frameOf = (payload: Uint8Array) => Buffer.concat([HEAD, payload, TAIL]);
const deliver = (subject: string, frame: Buffer) => {
  const parts = subject.split('.');
  const targets =
    parts[3] === 'chats' ? byAgent.get(`${parts[1]}.${parts[2]}`) : byChat.get(`${parts[1]}.${parts[2]}.${parts[4]}`);
  if (targets) for (const ws of targets) ws.send(frame);
};
const nc = await connect({ servers: process.env.NATS_URL });
if (process.env.READER === 'wire') {
  await InboxWire.open(nc.getServer(), 'wa.>', 'raw-ws', {
    data: (subject, _reply, data) => deliver(subject, frameOf(data)),
    control: () => undefined,
    lost: (err) => {
      console.error(err);
      process.exit(1);
    },
  });
  server.listen(Number(process.env.PORT), '127.0.0.1');
} else if (process.env.READER === 'ordered') {
  const reader = new OrderedReader(
    nc,
    {
      stream: 'wa_stream',
      filter: 'wa.>',
      start: { kind: 'next' },
      heartbeatMs: 1000,
      inactiveMs: 10_000,
      description: 'raw-ws',
    },
    {
      event: (subject, data) => deliver(subject, frameOf(data)),
      reset: () => undefined,
      epochChanged: () => undefined,
      failed: (err) => console.error(err),
    },
  );
  await reader.start();
  server.listen(Number(process.env.PORT), '127.0.0.1');
} else if (process.env.READER === 'interest') {
  const PREFIX = 'dws.'.length;
  onAgent = (agentKey) =>
    void nc.subscribe(`dws.wa.${agentKey}.>`, {
      callback: (_err, m) => deliver(m.subject.slice(PREFIX), frameOf(m.data)),
    });
  server.listen(Number(process.env.PORT), '127.0.0.1');
} else {
  const sub = nc.subscribe('wa.>');
  server.listen(Number(process.env.PORT), '127.0.0.1');
  for await (const m of sub) deliver(m.subject, Buffer.from(`{"type":"event","payload":${m.string()}}`));
}

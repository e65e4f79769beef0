// A client process of the benchmark: holds many sessions of one kind (gateway, raw ws or
// Socket.IO), records per-session event ids and end-to-end latency, and reports to the
// orchestrator over IPC.
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { Reservoir, nowMs } from './lib/stats.js';

export type Mode = 'gateway' | 'raw' | 'sio';

export interface SessionSpec {
  company: string;
  agent: string;
  user: string;
  chat?: string;
  url: string;
}

type Command =
  | { cmd: 'connect'; mode: Mode; sessions: SessionSpec[]; concurrency: number }
  | { cmd: 'reset' }
  | { cmd: 'report'; published: Record<string, string[]>; since: number }
  | { cmd: 'close' }
  | { cmd: 'exit' };

interface Client {
  spec: SessionSpec;
  received: Map<string, number>;
  close(): void;
}

const clients: Client[] = [];
const latency = new Reservoir(150_000);
let delivered = 0;
let lastDeliveryAt = 0;

function onEvent(client: Client, payloadText: string): void {
  const now = nowMs();
  const payload = JSON.parse(payloadText) as { event_id: string; row_data: { sent_at: number } };
  latency.add(now - payload.row_data.sent_at);
  client.received.set(payload.event_id, (client.received.get(payload.event_id) ?? 0) + 1);
  delivered++;
  lastDeliveryAt = Date.now();
}

function openWs(spec: SessionSpec): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(spec.url, ['json.v1'], { perMessageDeflate: false });
    const client: Client = { spec, received: new Map(), close: () => socket.terminate() };
    socket.on('message', (data) => {
      const text = data.toString();
      // {"type":"event","seq":N,"payload":<payload>} (raw ws sends it without seq)
      if (text.startsWith('{"type":"event"')) return onEvent(client, text.slice(text.indexOf(',"payload":') + 11, -1));
      if (text.startsWith('{"type":"ready"')) {
        if (spec.chat) socket.send(JSON.stringify({ type: 'select_chat', payload: { chat_id: spec.chat } }));
        resolve(client);
      }
    });
    socket.on('error', reject);
    socket.on('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function openSio(spec: SessionSpec): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(spec.url, {
      transports: ['websocket'],
      query: { company: spec.company, agent: spec.agent },
      reconnection: false,
      forceNew: true,
    });
    const client: Client = { spec, received: new Map(), close: () => socket.disconnect() };
    socket.on('event', (payload: string) => onEvent(client, payload));
    socket.on('ready', () => {
      if (spec.chat) socket.emit('select_chat', spec.chat);
      resolve(client);
    });
    socket.on('connect_error', reject);
  });
}

async function connectAll(
  mode: Mode,
  sessions: SessionSpec[],
  concurrency: number,
): Promise<{ handshakes: number[]; failures: number; ms: number }> {
  const handshakes: number[] = [];
  let failures = 0;
  let next = 0;
  const started = nowMs();
  const lane = async () => {
    while (next < sessions.length) {
      const spec = sessions[next++]!;
      const t0 = nowMs();
      try {
        clients.push(await (mode === 'sio' ? openSio(spec) : openWs(spec)));
        handshakes.push(nowMs() - t0);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { handshakes, failures, ms: nowMs() - started };
}

/** Events each session should have received: its agent's chat list and its chat's messages. */
function check(published: Record<string, string[]>): { expected: number; lost: number; duplicated: number } {
  let expected = 0;
  let lost = 0;
  let duplicated = 0;
  for (const c of clients) {
    const want = [
      ...(published[`wa.${c.spec.company}.${c.spec.agent}.chats`] ?? []),
      ...(c.spec.chat ? (published[`wa.${c.spec.company}.${c.spec.agent}.messages.${c.spec.chat}`] ?? []) : []),
    ];
    expected += want.length;
    for (const id of want) {
      const n = c.received.get(id) ?? 0;
      if (n === 0) lost++;
      if (n > 1) duplicated += n - 1;
    }
  }
  return { expected, lost, duplicated };
}

process.on('message', async (message: Command) => {
  switch (message.cmd) {
    case 'connect':
      return process.send!({
        type: 'connected',
        ...(await connectAll(message.mode, message.sessions, message.concurrency)),
      });
    case 'reset':
      latency.reset();
      delivered = 0;
      for (const c of clients) c.received.clear();
      return process.send!({ type: 'reset' });
    case 'report': {
      // Wait until deliveries have stopped for 500 ms (at most 15 s).
      const deadline = Date.now() + 15_000;
      while (Date.now() - lastDeliveryAt < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const values = latency.values();
      return process.send!({ type: 'report', delivered, latencies: Array.from(values), ...check(message.published) });
    }
    case 'close':
      for (const c of clients) c.close();
      clients.length = 0;
      return process.send!({ type: 'closed' });
    case 'exit':
      process.exit(0);
  }
});
process.send!({ type: 'up' });

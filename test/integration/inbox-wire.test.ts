import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  headerName,
  headerNumber,
  InboxWire,
  InboxWireUnsupported,
  type InboxListener,
} from '../../src/adapters/nats/inbox-wire.js';
import { waitFor } from '../helpers/wait.js';
import { DependencyError } from '../../src/domain/errors.js';

// The wire's framing, against a peer that plays nats-server's side of a scripted exchange and
// writes its bytes in pieces of every size: what a real server does only by chance (a message
// split across reads, a status line cut in its middle). Reading a real server's consumer is
// test/integration/nats-reader.test.ts.

const INBOX = '_INBOX.test';
/** Every socket of the test, either side, destroyed at the end so that a failure cannot hang the file. */
const sockets = new Set<Socket>();

interface Peer {
  server: Server;
  address: string;
  /** Everything the wire wrote, as text. */
  received(): string;
  socket(): Promise<Socket>;
}

async function peer(
  info: Record<string, unknown> = { server_id: 'x', headers: true, max_payload: 1048576 },
): Promise<Peer> {
  let text = '';
  let resolveSocket!: (s: Socket) => void;
  const connected = new Promise<Socket>((r) => (resolveSocket = r));
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.write(`INFO ${JSON.stringify(info)}\r\n`);
    let greeted = false;
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (!greeted && text.includes('PING\r\n')) {
        greeted = true;
        socket.write('PONG\r\n');
        resolveSocket(socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, address: `127.0.0.1:${port}`, received: () => text, socket: () => connected };
}

function recorder() {
  const data: Array<{ subject: string; reply: string; body: string; head: string }> = [];
  const control: Array<{ code: number; description: string; last: string; reply: string }> = [];
  const lost: Error[] = [];
  const listener: InboxListener = {
    data: (subject, reply, bytes, head) =>
      void data.push({ subject, reply, body: Buffer.from(bytes).toString(), head: Buffer.from(head).toString() }),
    control: (code, description, header, reply) =>
      void control.push({ code, description, last: header('Nats-Last-Consumer'), reply }),
    lost: (err) => void lost.push(err),
  };
  return { data, control, lost, listener };
}

/** Writes `bytes` in pieces of `size`, each in its own turn so that the wire reads them apart. */
async function writeInPieces(socket: Socket, bytes: Buffer, size: number): Promise<void> {
  for (let i = 0; i < bytes.length; i += size) {
    socket.write(bytes.subarray(i, i + size));
    await new Promise((r) => setImmediate(r));
  }
}

const heartbeat = 'NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 7\r\nNats-Last-Stream: 9\r\n\r\n';
const flowControl = 'NATS/1.0 100 FlowControl Request\r\n\r\n';
const withHeader = 'NATS/1.0\r\nX-Request-ID: r1\r\n\r\n';
const big = `{"event_id":"big","text":"${'z'.repeat(3000)}"}`;
const script = Buffer.from(
  [
    `MSG wa.c.a.chats 1 $JS.ACK.s.c.1.1.1.1700000000000000000.3 14\r\n{"event_id":1}\r\n`,
    `HMSG wa.c.a.messages.k 1 $JS.ACK.s.c.1.2.2.1700000000000000000.2 ${withHeader.length} ` +
      `${withHeader.length + 14}\r\n${withHeader}{"event_id":2}\r\n`,
    `PING\r\n`,
    `HMSG ${INBOX} 1 ${heartbeat.length} ${heartbeat.length}\r\n${heartbeat}\r\n`,
    `HMSG ${INBOX} 1 $JS.FC.s.c.x ${flowControl.length} ${flowControl.length}\r\n${flowControl}\r\n`,
    `MSG wa.c.a.chats 1 $JS.ACK.s.c.1.3.3.1700000000000000000.1 ${big.length}\r\n${big}\r\n`,
    `+OK\r\n`,
    `MSG wa.c.a.chats 1 $JS.ACK.s.c.1.4.4.1700000000000000000.0 0\r\n\r\n`,
  ].join(''),
  'latin1',
);

describe('InboxWire framing', { timeout: 20_000 }, () => {
  const peers: Peer[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    for (const p of peers) p.server.close();
  });

  for (const size of [1, 2, 3, 7, 64, 1000, script.length]) {
    it(`reads messages, statuses and pings written in pieces of ${size} byte(s)`, async () => {
      const p = await peer();
      peers.push(p);
      const r = recorder();
      const wire = await InboxWire.open(p.address, INBOX, 'test reader', r.listener);
      try {
        assert.match(
          p.received(),
          new RegExp(`^CONNECT \\{.*"headers":true.*\\}\\r\\nSUB ${INBOX.replace('.', '\\.')} 1\\r\\nPING\\r\\n`),
        );
        await writeInPieces(await p.socket(), script, size);
        await waitFor(() => r.data.length === 4 && r.control.length === 2);
        assert.deepEqual(
          r.data.map((d) => [d.subject, d.reply.split('.')[5], d.body.length]),
          [
            ['wa.c.a.chats', '1', 14],
            ['wa.c.a.messages.k', '2', 14],
            ['wa.c.a.chats', '3', big.length],
            ['wa.c.a.chats', '4', 0],
          ],
        );
        assert.equal(r.data[1]!.body, '{"event_id":2}', 'the header block is not part of the payload');
        assert.equal(r.data[2]!.body, big);
        assert.deepEqual(r.control, [
          { code: 100, description: 'Idle Heartbeat', last: '7', reply: '' },
          { code: 100, description: 'FlowControl Request', last: '', reply: '$JS.FC.s.c.x' },
        ]);
        wire.respond('$JS.FC.s.c.x');
        await waitFor(() => p.received().includes('PUB $JS.FC.s.c.x 0\r\n\r\n'));
        assert.ok(p.received().includes('PONG\r\n'), "the server's PING is answered");
        assert.deepEqual(r.lost, []);
      } finally {
        wire.close();
      }
    });
  }

  it('says the connection is lost when the server closes it, and not after close()', async () => {
    const p = await peer();
    peers.push(p);
    const r = recorder();
    await InboxWire.open(p.address, INBOX, 'test reader', r.listener);
    (await p.socket()).destroy();
    await waitFor(() => r.lost.length === 1);
    const second = recorder();
    const wire = await InboxWire.open(p.address, INBOX, 'test reader', second.listener);
    wire.close();
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(second.lost, []);
  });

  it('refuses a server that requires credentials or TLS, so the reader falls back to the client library', async () => {
    for (const info of [
      { auth_required: true, headers: true },
      { tls_required: true, headers: true },
    ]) {
      const p = await peer(info);
      peers.push(p);
      await assert.rejects(InboxWire.open(p.address, INBOX, 'test reader', recorder().listener), InboxWireUnsupported);
    }
  });

  it('carries subscriptions of its own: SUB and UNSUB by sid, flush after them, the header block with each message', async () => {
    const p = await peer();
    peers.push(p);
    const r = recorder();
    const wire = await InboxWire.open(p.address, '', 'interest reader', r.listener);
    try {
      assert.doesNotMatch(p.received(), /SUB/, 'no inbox: nothing subscribed at open');
      const a = wire.subscribe('dws.wa.c.a1.chats');
      const b = wire.subscribe('dws.wa.c.a2.>');
      wire.unsubscribe(a);
      const socket = await p.socket();
      // The server answers a PING after everything before it: flush resolves only then, and in order.
      const order: string[] = [];
      const first = wire.flush().then(() => void order.push('first'));
      const second = wire.flush().then(() => void order.push('second'));
      await waitFor(() => (p.received().match(/PING\r\n/g) ?? []).length === 3);
      assert.match(p.received(), /SUB dws\.wa\.c\.a1\.chats 2\r\nSUB dws\.wa\.c\.a2\.> 3\r\nUNSUB 2\r\nPING\r\nPING/);
      assert.deepEqual(order, [], 'no PONG yet');
      socket.write('PONG\r\n');
      await first;
      assert.deepEqual(order, ['first']);
      socket.write('PONG\r\n');
      await second;
      const head =
        'NATS/1.0\r\nNats-Stream: s\r\nNats-Subject: wa.c.a2.chats\r\nNats-Sequence: 1234\r\n' +
        'Nats-Time-Stamp: 2026-12-02T05:00:00Z\r\nNats-Last-Sequence:  1200\r\n\r\n';
      socket.write(`HMSG dws.wa.c.a2.chats ${b} ${head.length} ${head.length + 2}\r\n${head}{}\r\n`);
      await waitFor(() => r.data.length === 1);
      assert.deepEqual([r.data[0]!.subject, r.data[0]!.body, r.data[0]!.head], ['dws.wa.c.a2.chats', '{}', head]);
      const bytes = Buffer.from(head, 'latin1');
      assert.equal(headerNumber(bytes, headerName('Nats-Sequence')), 1234);
      assert.equal(headerNumber(bytes, headerName('Nats-Last-Sequence')), 1200);
      assert.equal(headerNumber(bytes, headerName('Nats-Expected-Sequence')), 0, 'absent: 0');
      wire.close();
      await assert.rejects(wire.flush(), /closed/);
    } finally {
      wire.close();
    }
  });

  it('drops what the server had sent on a sid before it read the UNSUB', async () => {
    // nats-server writes messages already matched before it reads an UNSUB: they arrive after
    // unsubscribe() returned. Taken, they would make the interest reader see a gap on a subject it
    // subscribes to again a moment later (fault row interest-churn).
    const p = await peer();
    peers.push(p);
    const r = recorder();
    const wire = await InboxWire.open(p.address, '', 'interest reader', r.listener);
    try {
      const a = wire.subscribe('dws.wa.c.a1.chats');
      const socket = await p.socket();
      socket.write(`MSG dws.wa.c.a1.chats ${a} 3\r\none\r\n`);
      await waitFor(() => r.data.length === 1);
      wire.unsubscribe(a);
      const again = wire.subscribe('dws.wa.c.a1.chats');
      await waitFor(() => p.received().includes(`SUB dws.wa.c.a1.chats ${again}\r\n`));
      socket.write(`MSG dws.wa.c.a1.chats ${a} 3\r\ntwo\r\nMSG dws.wa.c.a1.chats ${again} 5\r\nthree\r\n`);
      await waitFor(() => r.data.length >= 2);
      assert.deepEqual(
        r.data.map((d) => d.body),
        ['one', 'three'],
      );
    } finally {
      wire.close();
    }
  });

  it("fails on -ERR during the handshake with the server's words", async () => {
    const server = createServer((socket) => {
      socket.write('INFO {"headers":true}\r\n');
      socket.once('data', () => socket.end("-ERR 'Authorization Violation'\r\n"));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      // The project's error, the server's words in its cause (and so in the log line).
      const err = await InboxWire.open(`127.0.0.1:${port}`, INBOX, 'test reader', recorder().listener).catch(
        (e: unknown) => e,
      );
      assert.ok(err instanceof DependencyError, String(err));
      assert.match(String((err.cause as Error).message), /-ERR 'Authorization Violation'/);
    } finally {
      server.close();
    }
  });
});

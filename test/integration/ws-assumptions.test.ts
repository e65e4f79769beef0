import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { rawSocketOf } from '../../src/transports/ws/socket-sink.js';
import { wireFrameOf } from '../../src/transports/ws/wire-frame.js';

/**
 * What the socket sink (src/transports/ws/socket-sink.ts) takes for granted about `ws`, which `ws`
 * does not promise: its private `_socket` is the TCP socket the upgrade was handed; on a connection
 * without extensions a send is written to that socket before `send` returns (the sender keeps
 * nothing queued), so that frames written to the socket directly keep their place between `ws`'s
 * own; and a frame written that way is read by a client as the message it carries. An upgrade of
 * `ws` that changes one of these fails here — and package.json pins `ws` exactly, so that no
 * upgrade happens without this file running.
 */
interface SenderInternals {
  _queue: unknown[];
  _bufferedBytes: number;
}

async function connectedPair(): Promise<{ server: WebSocket; raw: Socket; client: WebSocket; close(): void }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const http = createServer();
  const upgraded = new Promise<{ server: WebSocket; raw: Socket }>((resolve) => {
    http.on('upgrade', (req: IncomingMessage, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => resolve({ server: ws, raw: socket as Socket }));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  const [{ server, raw }] = await Promise.all([upgraded, new Promise((resolve) => client.once('open', resolve))]);
  return {
    server,
    raw,
    client,
    close: () => {
      client.terminate();
      server.terminate();
      http.close();
    },
  };
}

function received(client: WebSocket, count: number): Promise<string[]> {
  const messages: string[] = [];
  return new Promise((resolve) => {
    client.on('message', (data) => {
      messages.push(data.toString());
      if (messages.length === count) resolve(messages);
    });
  });
}

describe('the ws internals the socket sink relies on', () => {
  it('ws is pinned to an exact version', () => {
    const spec = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).dependencies.ws;
    assert.match(
      spec,
      /^\d+\.\d+\.\d+$/,
      `package.json asks for ws "${spec}": pin it, and run this file before moving it`,
    );
  });

  it('the private _socket is the TCP socket the upgrade was handed', async () => {
    const pair = await connectedPair();
    try {
      assert.equal(rawSocketOf(pair.server), pair.raw);
      assert.equal(pair.server.extensions, '', 'no extension negotiated: frames can be written as they are');
    } finally {
      pair.close();
    }
  });

  it('a send on a plain connection leaves the sender idle, so frames written to the socket keep their place', async () => {
    const pair = await connectedPair();
    try {
      const got = received(pair.client, 4);
      pair.raw.cork(); // as the sink does for a tick
      pair.server.send('one', { binary: false });
      const sender = (pair.server as unknown as { _sender: SenderInternals })._sender;
      assert.equal(sender._queue.length, 0, 'the sender queued the frame instead of writing it');
      assert.equal(sender._bufferedBytes, 0);
      pair.raw.write(wireFrameOf(Buffer.from('two')));
      pair.server.send('three', { binary: false });
      pair.raw.write(wireFrameOf(Buffer.from('four'.repeat(20_000))));
      pair.raw.uncork();
      assert.deepEqual(
        (await got).map((m) => m.slice(0, 5)),
        ['one', 'two', 'three', 'fourf'],
      );
    } finally {
      pair.close();
    }
  });

  it("bufferedAmount counts what the socket holds: the sink's high-water mark reads it", async () => {
    const pair = await connectedPair();
    try {
      pair.raw.cork();
      pair.raw.write(wireFrameOf(Buffer.alloc(100_000, 0x61)));
      assert.ok(pair.server.bufferedAmount >= 100_000, `bufferedAmount ${pair.server.bufferedAmount}`);
      pair.raw.uncork();
    } finally {
      pair.close();
    }
  });
});

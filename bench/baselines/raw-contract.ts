// Baseline (c): the floor for a gateway on this contract. The raw `ws` server of raw-ws.ts plus
// the least a handshake must do under docs/protocol.md, *Tokens*–§5, written as directly as possible: the client key
// compared, the token opened (AES-256-GCM) and its claims parsed and checked against the path,
// the token cache and the session lock written in one auto-pipelined Redis round trip (the lock
// awaited), the agent's chat-list route added when it is the agent's first session here, and on
// close the lock and the route given back. No limits, metrics, logs, resume, heartbeats or events:
// what this server does per handshake, no gateway can skip.
import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

process.on('SIGTERM', () => process.exit(0));

const POD = '127.0.0.9';
const key = Buffer.from(process.env.AES_KEY!, 'hex');
const clientKey = createHash('sha256').update(process.env.CLIENT_KEY!).digest();
const [host, port] = (process.env.REDIS_ADDRESS ?? '127.0.0.1:6379').split(':');
const redis = new Redis({ host, port: Number(port), enableAutoPipelining: true });
const sessionsOfAgent = new Map<string, number>();

const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(process.memoryUsage()));
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 65536 });

server.on('upgrade', async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const [, , company, agent] = url.pathname.split('/');
  const token = url.searchParams.get('token') ?? '';
  const presented = createHash('sha256')
    .update(url.searchParams.get('x-api-key') ?? '')
    .digest();
  let claims: { company_id: string; agent_id: string; user_id: string; expires_at: string };
  try {
    if (!timingSafeEqual(presented, clientKey)) throw new Error('client key');
    const raw = Buffer.from(token, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    claims = JSON.parse(
      Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(),
    );
    if (claims.company_id !== company || claims.agent_id !== agent || Date.parse(claims.expires_at) < Date.now())
      throw new Error('claims');
  } catch {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const lock = `session:${company}:${agent}:${claims.user_id}`;
  void redis.set(`token_cache:${createHash('sha256').update(token).digest('hex')}`, JSON.stringify(claims), 'EX', 30);
  if ((await redis.set(lock, POD, 'EX', 30, 'NX')) !== 'OK') {
    socket.end('HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const agentKey = `${company}:${agent}`;
  const route = `route:${agentKey}:chats`;
  wss.handleUpgrade(req, socket, head, (ws) => {
    const count = (sessionsOfAgent.get(agentKey) ?? 0) + 1;
    sessionsOfAgent.set(agentKey, count);
    if (count === 1) void redis.sadd(route, POD);
    ws.on('close', () => {
      const left = sessionsOfAgent.get(agentKey)! - 1;
      if (left === 0) {
        sessionsOfAgent.delete(agentKey);
        void redis.srem(route, POD);
      } else sessionsOfAgent.set(agentKey, left);
      void redis.del(lock);
    });
    ws.send(`{"type":"ready","payload":{"epoch":"0123456789ab"}}`);
  });
});

server.listen(Number(process.env.PORT), '127.0.0.1');

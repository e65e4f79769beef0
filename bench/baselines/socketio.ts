// Baseline (b): the peer users would otherwise pick. Socket.IO 4 with the Redis adapter, rooms per
// agent and per chat, the same events from NATS emitted to the rooms.
import { createServer } from 'node:http';
import { connect } from '@nats-io/transport-node';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

// An exit on SIGTERM (not the signal's default) lets --cpu-prof write its profile (bench --profile).
process.on('SIGTERM', () => process.exit(0));

const pubClient = new Redis(process.env.REDIS_ADDRESS ?? '127.0.0.1:6379');
const subClient = pubClient.duplicate();
const http = createServer((req, res) => {
  if (req.url !== '/stats') return;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(process.memoryUsage()));
});
const io = new Server(http, {
  adapter: createAdapter(pubClient, subClient, { key: `bench-sio-${process.pid}` }),
  transports: ['websocket'],
});
io.on('connection', (socket) => {
  const { company, agent } = socket.handshake.query as Record<string, string>;
  void socket.join(`${company}.${agent}`);
  let chatRoom: string | undefined;
  socket.on('select_chat', (chatId: string) => {
    if (chatRoom) void socket.leave(chatRoom);
    chatRoom = `${company}.${agent}.${chatId}`;
    void socket.join(chatRoom);
  });
  socket.emit('ready');
});

const nc = await connect({ servers: process.env.NATS_URL });
const sub = nc.subscribe('wa.>');
http.listen(Number(process.env.PORT), '127.0.0.1');
for await (const m of sub) {
  const parts = m.subject.split('.');
  const room = parts[3] === 'chats' ? `${parts[1]}.${parts[2]}` : `${parts[1]}.${parts[2]}.${parts[4]}`;
  io.to(room).emit('event', m.string());
}

import type { Socket } from 'node:net';

// Process-wide by nature: one nextTick callback uncorks every socket corked in the tick. A socket corked in a later
// tick is added again; nothing here spans an await, so no caller can see another's half-done state.
const corked = new Set<Socket>();
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * Holds a socket's writes until the end of the current tick, so that the frames one event burst
 * sends to it leave in one system call. One scheduled callback serves every socket.
 */
export function corkForThisTick(socket: Socket): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(uncorkAll);
  }
}

/**
 * Hands a socket's held writes to the kernel now, if it holds any; true when it did. A burst of
 * more than the send queue's high-water mark in one tick (a pod that resumes after a pause, a
 * large replay) must not look like a client that stopped reading.
 */
export function uncorkNow(socket: Socket): boolean {
  if (!corked.delete(socket)) return false;
  socket.uncork();
  return true;
}

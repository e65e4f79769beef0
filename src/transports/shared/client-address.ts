import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { plainAddress } from '../../domain/addresses.js';

/**
 * The address limits are counted against (SECURITY.md, *Limits*): the socket's peer, or the first entry of
 * X-Forwarded-For when `trustProxy` (only behind a proxy that sets it; anyone can send one).
 */
export function clientAddressOf(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
    if (first) return plainAddress(first.slice(0, 64));
  }
  return plainAddress(req.socket.remoteAddress ?? 'unknown');
}

/**
 * Drops what reading `remoteAddress` cached on a socket: an object and a string that a long-lived
 * connection (an idle WebSocket session) would otherwise carry for nothing. Node asks the kernel
 * again if anyone reads the address later.
 */
export function forgetPeerAddress(socket: Socket): void {
  (socket as Socket & { _peername?: unknown })._peername = undefined;
}

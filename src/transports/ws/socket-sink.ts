import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Config } from '../../platform/config/schema.js';
import type { Metrics } from '../../platform/metrics.js';
import { corkForThisTick, uncorkNow } from './cork.js';
import { SOCKET_HIGH_WATER, type BackpressurePolicy, type SendQueueSink } from './send-queue.js';
import { wireFrameOf } from './wire-frame.js';

const TEXT = { binary: false } as const;

/**
 * The TCP socket under a `ws` WebSocket. `ws` does not expose it; the gateway needs it for two
 * things only: its 'drain' (the send queue moves on) and corking (the frames of one tick leave in
 * one write). This is the one place that reaches into `ws`'s internals.
 */
export function rawSocketOf(socket: WebSocket): Socket | undefined {
  return (socket as unknown as { _socket?: Socket })._socket;
}

/**
 * Where a connection's send queue writes: the WebSocket, corked for the tick so that the frames
 * of one tick leave in one write. One object per connection rather than a closure per method
 * (an idle session's memory is mostly such small things).
 */
export class SocketSink implements SendQueueSink {
  private drainListened = false;
  /** No extension negotiated (permessage-deflate): messages can go out as prepared frames. */
  private readonly plain: boolean;

  constructor(
    private readonly socket: WebSocket,
    private readonly raw: Socket | undefined,
    private readonly deps: { config: () => Config; metrics: Metrics },
    private readonly sessionLabel: string,
    /** The socket's 'drain' listener (shared by every connection; it finds its own on the socket). */
    private readonly onDrain: (this: Socket) => void,
    /** The queue passed its byte bound under `block`. */
    readonly overflow: () => void,
  ) {
    this.plain = socket.extensions === '';
  }

  capacity(): number {
    return this.deps.config().app.websocket_message_buffer_size;
  }

  maxBytes(): number {
    return this.deps.config().app.websocket_max_queued_bytes;
  }

  policy(): BackpressurePolicy {
    return this.deps.config().app.websocket_backpressure_drop_policy as BackpressurePolicy;
  }

  bufferedAmount(): number {
    const amount = this.socket.bufferedAmount;
    // Past the mark because of this tick's own corked frames: written out, the socket may have room.
    if (amount < SOCKET_HIGH_WATER || !this.raw || !uncorkNow(this.raw)) return amount;
    return this.socket.bufferedAmount;
  }

  /**
   * Listens to 'drain' from the first time frames wait, not from the start: most sessions never
   * fill their socket, and a listener is memory every idle session would carry.
   */
  awaitDrain(): void {
    if (this.drainListened || !this.raw) return;
    this.drainListened = true;
    this.raw.on('drain', this.onDrain);
  }

  /**
   * On a plain connection that is open, the message goes to the socket as a prepared frame, shared
   * with the other recipients of the same message (wire-frame.ts); otherwise `ws` frames it (and
   * compresses it, or refuses it after a close).
   */
  write(frame: Buffer): void {
    const raw = this.raw;
    if (raw) corkForThisTick(raw);
    if (raw && this.plain && this.socket.readyState === WebSocket.OPEN) raw.write(wireFrameOf(frame));
    else this.socket.send(frame, TEXT);
  }

  dropped(reason: string): void {
    this.deps.metrics.wsDropped.inc({ session_key: this.sessionLabel, reason });
  }
}

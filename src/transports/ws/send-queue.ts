/**
 * The bounded send queue of one connection (SPEC §4). Frames go straight to the socket while its
 * own buffer (bufferedAmount) is below a high-water mark; past it they wait here, at most
 * `capacity` of them. When that is full, drop_oldest drops the oldest waiting frame and block
 * makes the producer wait for room. So a connection holds at most the high-water mark in socket
 * bytes plus `capacity` frames, and a burst to a client that reads does not lose anything.
 */
export type BackpressurePolicy = 'drop_oldest' | 'block';

export interface SendQueueSink {
  /** Bytes the socket holds but has not written yet. */
  bufferedAmount(): number;
  /** Writes a frame; `written` runs once the socket has taken it. */
  write(frame: Buffer, written: () => void): void;
  dropped(reason: string): void;
}

/** Below this many buffered bytes the socket takes more frames; above, frames wait here. */
const SOCKET_HIGH_WATER = 64 * 1024;

interface Waiting {
  frame: Buffer;
  at: number;
}

export class SendQueue {
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private inSocket = 0;
  private oldestInSocketAt = 0;
  private readonly blocked: Array<{ frame: Buffer; resolve: () => void }> = [];
  private closed = false;

  constructor(private readonly capacity: number, private readonly policy: BackpressurePolicy, private readonly sink: SendQueueSink) {}

  /** Frames not yet written: waiting here plus handed to the socket. */
  get length(): number {
    return this.waitingCount + this.inSocket;
  }

  get waitingCount(): number {
    return this.waiting.length - this.head;
  }

  /** Enqueue time of the oldest frame not yet written, or undefined when all are written. */
  oldestAt(): number | undefined {
    const first = this.waiting[this.head];
    if (first) return first.at;
    return this.inSocket > 0 ? this.oldestInSocketAt : undefined;
  }

  /** Queues a frame. Under `block` a full queue returns a promise that resolves once it is in. */
  push(frame: Buffer, now = Date.now()): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.waitingCount >= this.capacity) {
      if (this.policy === 'block') return new Promise((resolve) => this.blocked.push({ frame, resolve }));
      this.head++;
      this.compact();
      this.sink.dropped('buffer_full_dropped_oldest');
    }
    this.waiting.push({ frame, at: now });
    this.flush();
    return undefined;
  }

  /** Writes a frame ahead of the limit (error frames before a close). */
  pushUrgent(frame: Buffer): void {
    if (this.closed) return;
    this.waiting.push({ frame, at: Date.now() });
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.head = 0;
    for (const b of this.blocked.splice(0)) {
      this.sink.dropped('buffer_full_block_closed');
      b.resolve();
    }
  }

  private flush(): void {
    while (this.head < this.waiting.length && this.sink.bufferedAmount() < SOCKET_HIGH_WATER) {
      const item = this.waiting[this.head++]!;
      if (this.inSocket === 0) this.oldestInSocketAt = item.at;
      this.inSocket++;
      this.sink.write(item.frame, () => this.onWritten());
    }
    this.compact();
  }

  private onWritten(): void {
    this.inSocket--;
    if (this.inSocket > 0) this.oldestInSocketAt = Date.now();
    if (this.closed) return;
    this.flush();
    while (this.blocked.length > 0 && this.waitingCount < this.capacity) {
      const b = this.blocked.shift()!;
      this.waiting.push({ frame: b.frame, at: Date.now() });
      b.resolve();
    }
    this.flush();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}

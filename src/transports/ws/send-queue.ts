/**
 * The bounded send queue of one connection (SPEC §4). Frames go straight to the socket while its
 * own buffer (bufferedAmount) is below a high-water mark; past it they wait here, at most
 * `capacity` of them, until the socket drains. When that is full, drop_oldest drops the oldest
 * waiting frame and block makes the producer wait for room. So a connection holds at most the
 * high-water mark in socket bytes plus `capacity` frames, and a burst to a client that reads
 * loses nothing. The common case — a client that keeps up — costs one write and no allocation.
 */
export type BackpressurePolicy = 'drop_oldest' | 'block';

export interface SendQueueSink {
  /** Frames that may wait here, and what a full queue does: read at each use (live configuration). */
  capacity(): number;
  policy(): BackpressurePolicy;
  /**
   * Bytes the socket holds but has not written yet. Past the high-water mark, frames merely held
   * back for this tick (corked) are handed to the kernel first, so that only what a client has not
   * read counts.
   */
  bufferedAmount(): number;
  write(frame: Buffer): void;
  /** Frames are waiting: from now on the socket's 'drain' must call the queue's drained(). */
  awaitDrain(): void;
  dropped(reason: string): void;
}

/** Below this many buffered bytes the socket takes more frames; above, frames wait here. */
export const SOCKET_HIGH_WATER = 64 * 1024;

interface Waiting {
  frame: Buffer;
  at: number;
}

interface Blocked {
  frame: Buffer;
  resolve: () => void;
}

/**
 * What an idle queue holds instead of arrays of its own (most queues never hold a frame, and a
 * session's memory is mostly such small things): never written to, replaced on the first push.
 */
const NOTHING_WAITING: Waiting[] = [];
const NOTHING_BLOCKED: Blocked[] = [];

export class SendQueue {
  private waiting = NOTHING_WAITING;
  private head = 0;
  private blocked = NOTHING_BLOCKED;
  private backlogSince: number | undefined;
  private closed = false;

  constructor(private readonly sink: SendQueueSink) {}

  /** Frames waiting for room in the socket (at most `capacity`). */
  get length(): number {
    return this.waiting.length - this.head;
  }

  /** Since when the oldest unwritten data has been waiting (here or in the socket), if any. */
  oldestAt(): number | undefined {
    const first = this.waiting[this.head];
    if (!first) return this.backlogSince;
    return this.backlogSince === undefined ? first.at : Math.min(first.at, this.backlogSince);
  }

  /** Queues a frame. Under `block` a full queue returns a promise that resolves once it is in. */
  push(frame: Buffer): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.length === 0 && this.sink.bufferedAmount() < SOCKET_HIGH_WATER) {
      this.sink.write(frame);
      return undefined;
    }
    if (this.length >= this.sink.capacity()) {
      if (this.sink.policy() === 'block') return new Promise((resolve) => this.blockedList().push({ frame, resolve }));
      this.head++;
      this.compact();
      this.sink.dropped('buffer_full_dropped_oldest');
    }
    this.waitingList().push({ frame, at: Date.now() });
    this.flush();
    return undefined;
  }

  /** Writes a frame ahead of the limit (error frames before a close). */
  pushUrgent(frame: Buffer): void {
    if (this.closed) return;
    this.waitingList().push({ frame, at: Date.now() });
    this.flush();
  }

  /** The socket has room again: waiting frames, then blocked producers, move on. */
  drained(): void {
    if (this.closed) return;
    this.flush();
    while (this.blocked.length > 0 && this.length < this.sink.capacity()) {
      const b = this.blocked.shift()!;
      this.waitingList().push({ frame: b.frame, at: Date.now() });
      b.resolve();
    }
    this.flush();
  }

  /** Called periodically: notes since when the socket itself has held unwritten bytes. */
  observeSocket(now: number): void {
    if (this.sink.bufferedAmount() === 0) this.backlogSince = undefined;
    else this.backlogSince ??= now;
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

  private waitingList(): Waiting[] {
    return this.waiting === NOTHING_WAITING ? (this.waiting = []) : this.waiting;
  }

  private blockedList(): Blocked[] {
    return this.blocked === NOTHING_BLOCKED ? (this.blocked = []) : this.blocked;
  }

  private flush(): void {
    while (this.head < this.waiting.length && this.sink.bufferedAmount() < SOCKET_HIGH_WATER) {
      this.sink.write(this.waiting[this.head++]!.frame);
    }
    if (this.head < this.waiting.length) this.sink.awaitDrain();
    this.compact();
  }

  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}

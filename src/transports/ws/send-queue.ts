import { systemClock, type Clock } from '../../domain/clock.js';

/**
 * The bounded send queue of one connection. Frames go straight to the socket while its own buffer
 * (bufferedAmount) is below a high-water mark; past it they wait here until the socket drains, at
 * most `capacity` frames and `maxBytes` bytes of them. Beyond either bound, `drop_oldest` drops the
 * oldest waiting frames, and `block` drops nothing: the frame waits, and the queue says it is full
 * (`overflow`) — the session then takes no more live frames and catches up from the pod's history
 * as the socket drains (ResumeService.catchUp). So a connection holds at most the high-water mark
 * in socket bytes plus `maxBytes` (and one frame more), and a burst to a client that reads loses
 * nothing. The common case — a client that keeps up — costs one write and no allocation.
 */
export type BackpressurePolicy = 'drop_oldest' | 'block';

export interface SendQueueSink {
  /** Frames and bytes that may wait here, and what a full queue does: read at each use (live configuration). */
  capacity(): number;
  maxBytes(): number;
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
  /** Under `block`, the queue is full: live frames must stop coming (a catch-up replaces them). */
  overflow(): void;
}

/** Below this many buffered bytes the socket takes more frames; above, frames wait here. */
export const SOCKET_HIGH_WATER = 64 * 1024;

interface Waiting {
  frame: Buffer;
  at: number;
}

/**
 * What an idle queue holds instead of arrays of its own (most queues never hold a frame, and a
 * session's memory is mostly such small things): never written to, replaced on the first push.
 */
const NOTHING_WAITING: Waiting[] = [];
const NOBODY: Array<() => void> = [];

export class SendQueue {
  private waiting = NOTHING_WAITING;
  private head = 0;
  private waitingBytes = 0;
  private writers = NOBODY;
  private backlogSince: number | undefined;
  private closed = false;

  constructor(
    private readonly sink: SendQueueSink,
    private readonly now: Clock = systemClock,
  ) {}

  /** Frames waiting for room in the socket. */
  get length(): number {
    return this.waiting.length - this.head;
  }

  /** Bytes of the frames waiting for room in the socket. */
  get bytes(): number {
    return this.waitingBytes;
  }

  /** Since when the oldest unwritten data has been waiting (here or in the socket), if any. */
  oldestAt(): number | undefined {
    const first = this.waiting[this.head];
    if (!first) return this.backlogSince;
    return this.backlogSince === undefined ? first.at : Math.min(first.at, this.backlogSince);
  }

  /** Queues a frame within the bounds (see the class comment). */
  push(frame: Buffer): void {
    if (this.closed) return;
    if (this.length === 0 && this.sink.bufferedAmount() < SOCKET_HIGH_WATER) {
      this.sink.write(frame);
      return;
    }
    const over = () => this.length >= this.sink.capacity() || this.waitingBytes + frame.length > this.sink.maxBytes();
    let full = false;
    if (this.length > 0 && over()) {
      if (this.sink.policy() === 'block') full = true;
      else while (this.length > 0 && over()) this.dropOldest();
    }
    this.enqueue(frame);
    this.flush();
    if (full && this.length > 0) this.sink.overflow();
  }

  /** Writes a frame ahead of the bounds (protocol frames; replayed events, which wait for writable()). */
  pushUrgent(frame: Buffer): void {
    if (this.closed) return;
    this.enqueue(frame);
    this.flush();
  }

  /** Undefined while nothing waits for the socket; else settles once nothing does (or the queue closed). */
  writable(): Promise<void> | undefined {
    if (this.closed || this.length === 0) return undefined;
    if (this.writers === NOBODY) this.writers = [];
    const writers = this.writers;
    return new Promise((resolve) => writers.push(resolve));
  }

  /** The socket has room again: waiting frames move on. */
  drained(): void {
    if (!this.closed) this.flush();
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
    this.waitingBytes = 0;
    this.wakeWriters();
  }

  private enqueue(frame: Buffer): void {
    if (this.waiting === NOTHING_WAITING) this.waiting = [];
    this.waiting.push({ frame, at: this.now() });
    this.waitingBytes += frame.length;
  }

  private dropOldest(): void {
    this.waitingBytes -= this.waiting[this.head++]!.frame.length;
    this.sink.dropped('buffer_full_dropped_oldest');
  }

  private flush(): void {
    while (this.head < this.waiting.length && this.sink.bufferedAmount() < SOCKET_HIGH_WATER) {
      const { frame } = this.waiting[this.head++]!;
      this.waitingBytes -= frame.length;
      this.sink.write(frame);
    }
    if (this.head < this.waiting.length) this.sink.awaitDrain();
    this.compact();
    if (this.length === 0) this.wakeWriters();
  }

  private wakeWriters(): void {
    if (this.writers.length === 0) return;
    const writers = this.writers;
    this.writers = NOBODY;
    for (const resolve of writers) resolve();
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

import type { SessionLocks } from '../domain/ports.js';

export interface LeaseHooks {
  gained(): void;
  lost(): void;
  error?(err: unknown): void;
  /** Whether this pod can do the work now (e.g. its NATS connection is up); if not, it lets go. */
  eligible?(): boolean;
}

/**
 * A lease on a lock with a TTL, renewed every third of it. Whoever holds it does the work only
 * one pod may do at a time. A holder that cannot confirm the lease for a whole TTL gives it up
 * before anyone else can take it over; one that is not eligible (its NATS connection is down)
 * hands it back at once, so that a healthy pod takes over.
 */
export class Lease {
  private held = false;
  private lastConfirmed = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly locks: SessionLocks,
    private readonly key: string,
    private readonly owner: string,
    private readonly ttlSeconds: number,
    private readonly hooks: LeaseHooks,
  ) {}

  get isHeld(): boolean {
    return this.held;
  }

  start(): void {
    const every = Math.max(200, (this.ttlSeconds * 1000) / 3);
    this.timer = setInterval(() => this.schedule(), every);
    this.schedule();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    if (!this.held) return;
    this.setHeld(false);
    await this.locks.release(this.key, this.owner).catch(() => false);
  }

  private schedule(): void {
    this.ticking = this.ticking.then(() => this.tick());
  }

  private async tick(): Promise<void> {
    if (this.hooks.eligible && !this.hooks.eligible()) {
      if (!this.held) return;
      this.setHeld(false);
      await this.locks.release(this.key, this.owner).catch(() => false);
      return;
    }
    try {
      const ok = this.held
        ? await this.locks.refresh(this.key, this.owner, this.ttlSeconds)
        : await this.locks.acquire(this.key, this.owner, this.ttlSeconds);
      if (ok) this.lastConfirmed = Date.now();
      this.setHeld(ok);
    } catch (err) {
      this.hooks.error?.(err);
      if (this.held && Date.now() - this.lastConfirmed > this.ttlSeconds * 1000) this.setHeld(false);
    }
  }

  private setHeld(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    if (held) this.hooks.gained();
    else this.hooks.lost();
  }
}

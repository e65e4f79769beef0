import type { Redis } from 'ioredis';
import { KILL_PATTERN_ADMINS, KILL_PATTERN_USERS } from '../../domain/keys.js';
import type { KillHandler, KillMessage, KillSwitch } from '../../domain/ports.js';
import { DependencyError } from '../../domain/errors.js';

const PUBLISH_ATTEMPTS = 3;
const FIRST_PUBLISH_BACKOFF_MS = 100;

/**
 * Kill messages over Redis pub/sub. The subscriber runs on its own connection; ioredis
 * reconnects it with backoff and re-issues the PSUBSCRIBEs after Redis drops.
 */
export class RedisKillSwitch implements KillSwitch {
  private subscriber: Redis | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly onMalformed: (channel: string, payload: string) => void = () => {},
    /** The subscriber is back after losing its connection: kill messages of the gap were lost. */
    private readonly onResubscribed: () => void = () => {},
  ) {}

  async publish(channel: string, message: KillMessage): Promise<void> {
    const payload = JSON.stringify(message);
    let delay = FIRST_PUBLISH_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.redis.publish(channel, payload);
        return;
      } catch (err) {
        if (attempt >= PUBLISH_ATTEMPTS)
          throw new DependencyError('redis', 'publishing a kill message', { cause: err });
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  async listen(handler: KillHandler): Promise<void> {
    const subscriber = this.redis.duplicate({ enableAutoPipelining: false, maxRetriesPerRequest: null });
    subscriber.on('error', () => {});
    this.subscriber = subscriber;
    subscriber.on('pmessage', (_pattern: string, channel: string, payload: string) => {
      const message = parseKillMessage(payload);
      if (message) handler(channel, message);
      else this.onMalformed(channel, payload);
    });
    await subscriber.psubscribe(KILL_PATTERN_USERS, KILL_PATTERN_ADMINS);
    subscriber.on('ready', () => this.onResubscribed());
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }
}

function parseKillMessage(payload: string): KillMessage | undefined {
  try {
    const value = JSON.parse(payload) as { new_pod_id?: unknown };
    return typeof value.new_pod_id === 'string' ? { new_pod_id: value.new_pod_id } : undefined;
  } catch {
    return undefined;
  }
}

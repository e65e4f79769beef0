import type { Redis } from 'ioredis';
import type { Block, BlockStore, PodDirectory } from '../../domain/ports.js';
import { redisCall } from './failure.js';

/** daisi-ws's own keys (Go replicas ignore them): who is alive, and the operators' blocks. */
const BLOCKS_KEY = 'dws:blocks';

/**
 * A sorted set of pod ids by when each last announced itself: `dws:pods:<stream>`, one per fleet (the
 * pods that read one stream and answer on one NATS).
 */
export class RedisPodDirectory implements PodDirectory {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    stream: string,
  ) {
    this.key = `dws:pods:${stream}`;
  }

  async announce(podId: string, nowMs: number): Promise<void> {
    await redisCall('announcing the pod', this.redis.zadd(this.key, nowMs, podId));
  }

  async alive(sinceMs: number): Promise<string[]> {
    // Pods gone a while are forgotten on the way (a SIGKILLed pod says nothing); a clean-up that fails is
    // done by the next one, and the read below reports the outage.
    void this.redis.zremrangebyscore(this.key, '-inf', sinceMs - 3_600_000).catch(() => undefined);
    return redisCall('listing pods', this.redis.zrangebyscore(this.key, sinceMs, '+inf'));
  }

  async leave(podId: string): Promise<void> {
    await redisCall('leaving the pod directory', this.redis.zrem(this.key, podId));
  }
}

/** One hash, block key → until (ms): a few entries, read whole by every pod now and then. */
export class RedisBlockStore implements BlockStore {
  constructor(private readonly redis: Redis) {}

  async put(key: string, block: Block): Promise<void> {
    const value = JSON.stringify({ until: block.untilMs, reason: block.reason });
    await redisCall('storing a block', this.redis.hset(BLOCKS_KEY, key, value));
  }

  async inForce(nowMs: number): Promise<Map<string, Block>> {
    const all = await redisCall('reading blocks', this.redis.hgetall(BLOCKS_KEY));
    const blocks = new Map<string, Block>();
    const over: string[] = [];
    for (const [key, value] of Object.entries(all)) {
      const block = blockOf(value);
      if (block && block.untilMs > nowMs) blocks.set(key, block);
      else over.push(key);
    }
    // Expired blocks are ignored whether or not this clean-up succeeds; a failed one is done by the next read.
    if (over.length > 0) void this.redis.hdel(BLOCKS_KEY, ...over).catch(() => undefined);
    return blocks;
  }
}

/** A stored block: `{"until","reason"}`, or the bare end time that pods before the reason wrote. */
function blockOf(value: string): Block | undefined {
  if (/^\d+$/.test(value)) return { untilMs: Number(value), reason: '' };
  try {
    const parsed = JSON.parse(value) as { until?: unknown; reason?: unknown };
    if (typeof parsed.until !== 'number') return undefined;
    return { untilMs: parsed.until, reason: typeof parsed.reason === 'string' ? parsed.reason : '' };
  } catch {
    return undefined;
  }
}

import type { Redis } from 'ioredis';

/** The seed's Lua scripts: compare-and-delete, compare-and-expire, member-and-expire. */
const SCRIPTS = {
  compareAndDelete: `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`,
  compareAndExpire: `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("expire", KEYS[1], ARGV[2]) else return 0 end`,
  memberAndExpire: `if redis.call("sismember", KEYS[1], ARGV[1]) == 1 then return redis.call("expire", KEYS[1], ARGV[2]) else return 0 end`,
};

export interface ScriptedRedis extends Redis {
  compareAndDelete(key: string, value: string): Promise<number>;
  compareAndExpire(key: string, value: string, ttlSeconds: number): Promise<number>;
  memberAndExpire(key: string, member: string, ttlSeconds: number): Promise<number>;
}

/** Registers the scripts once per client (EVALSHA with automatic fallback to EVAL). */
export function withScripts(redis: Redis): ScriptedRedis {
  const scripted = redis as ScriptedRedis;
  if (typeof scripted.compareAndDelete === 'function') return scripted;
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return scripted;
}

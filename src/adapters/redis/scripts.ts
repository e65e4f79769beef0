import type { Redis } from 'ioredis';

/**
 * The Go service's compare-and-delete; compare-and-expire and member-and-expire below, for many keys per call (the Go
 * service renews one key per call: same rule per key).
 */
const SCRIPTS = {
  compareAndDelete: `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`,
};

/**
 * One call for many keys. The renewal loop's (KEYS: the keys; ARGV[1]: owner or member; ARGV[1+i]: the TTL of KEYS[i]),
 * and the write-behind's setMany (ARGV[2i-1], ARGV[2i]: the value and TTL of KEYS[i]).
 */
const MANY_SCRIPTS = {
  compareAndExpireMany: `local out = {}
for i, key in ipairs(KEYS) do
  if redis.call("get", key) == ARGV[1] then out[i] = redis.call("expire", key, ARGV[i + 1]) else out[i] = 0 end
end
return out`,
  memberAndExpireMany: `local out = {}
for i, key in ipairs(KEYS) do
  if redis.call("sismember", key, ARGV[1]) == 1 then out[i] = redis.call("expire", key, ARGV[i + 1]) else out[i] = 0 end
end
return out`,
  setMany: `for i, key in ipairs(KEYS) do
  redis.call("set", key, ARGV[2 * i - 1], "EX", ARGV[2 * i])
end
return #KEYS`,
};

export interface ScriptedRedis extends Redis {
  compareAndDelete(key: string, value: string): Promise<number>;
  /** (number of keys, ...keys, owner, ...ttls) */
  compareAndExpireMany(...args: Array<string | number>): Promise<number[]>;
  memberAndExpireMany(...args: Array<string | number>): Promise<number[]>;
  /** (number of keys, ...keys, value and TTL of each key in turn) */
  setMany(...args: Array<string | number>): Promise<number>;
}

/** Arguments of the *Many scripts for [key, ttl] entries. */
export function manyArgs(entries: ReadonlyArray<readonly [string, number]>, value: string): Array<string | number> {
  return [entries.length, ...entries.map(([key]) => key), value, ...entries.map(([, ttl]) => ttl)];
}

/** Registers the scripts once per client (EVALSHA with automatic fallback to EVAL). */
export function withScripts(redis: Redis): ScriptedRedis {
  const scripted = redis as ScriptedRedis;
  if (typeof scripted.compareAndDelete === 'function') return scripted;
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  for (const [name, lua] of Object.entries(MANY_SCRIPTS)) redis.defineCommand(name, { lua });
  return scripted;
}

import { DependencyError } from '../../domain/errors.js';

/**
 * A Redis call whose failure arrives as the project's error: DependencyError (503), the ioredis error — a refused
 * connection, a timeout, a command refused with READONLY during a failover — as its `cause`.
 */
export async function redisCall<T>(operation: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new DependencyError('redis', operation, { cause: err });
  }
}

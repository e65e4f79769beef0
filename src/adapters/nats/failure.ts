import { DependencyError } from '../../domain/errors.js';

/** A NATS failure as the project's error: DependencyError (503), the nats.js error (or ours) as its `cause`. */
export function natsFailure(operation: string, cause: unknown): DependencyError {
  return cause instanceof DependencyError ? cause : new DependencyError('nats', operation, { cause });
}

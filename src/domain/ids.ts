/**
 * IDs end up inside NATS subjects (`wa.<company>.<agent>...`) and Redis keys and channels
 * (`session:<c>:<a>:<u>`), so characters that are separators or wildcards there are refused
 * (docs/compat.md #6): a company id `*` would otherwise subscribe to every company, and a `:` in a user
 * id breaks the kill-switch channel.
 */
export const MAX_ID_BYTES = 256;

const FORBIDDEN = /[.*>:\s\p{Cc}]/u;

/** Returns why `value` is not a usable id, or undefined when it is. */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) return `must be at most ${MAX_ID_BYTES} bytes`;
  if (FORBIDDEN.test(value)) return "must not contain '.', '*', '>', ':', whitespace or control characters";
  return undefined;
}

/** The first problem among named ids, as "field must ...", or undefined when all are fine. */
export function firstIdProblem(fields: Record<string, unknown>): string | undefined {
  for (const [name, value] of Object.entries(fields)) {
    const problem = idProblem(value);
    if (problem) return `${name} ${problem}`;
  }
  return undefined;
}

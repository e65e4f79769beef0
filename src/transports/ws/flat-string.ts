/**
 * The string as one flat copy. A string built by concatenation (a template literal, randomUUID)
 * is a tree of pieces in V8 until it is flattened; kept for a session's life, those pieces cost
 * several times its length.
 */
export function flatString(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

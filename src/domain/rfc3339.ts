/**
 * RFC 3339 timestamps as Go's time.Time marshals them: 0–9 fraction digits and any zone
 * offset. JavaScript's Date keeps milliseconds only, so the instant is kept as epoch
 * milliseconds (for comparisons) next to the original text (for echoing it back unchanged).
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Go's zero time.Time, 0001-01-01T00:00:00Z, in epoch milliseconds. */
export const GO_ZERO_TIME_MS = -62135596800000;

export interface Instant {
  /** Epoch milliseconds, fraction below a millisecond dropped. */
  ms: number;
  /** Nanoseconds within the millisecond, so that the zero time and exact ties are recognised. */
  subMsNanos: number;
  text: string;
}

export function parseRfc3339(text: string): Instant | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  const date = new Date(0);
  date.setUTCFullYear(Number(y), month - 1, day);
  date.setUTCHours(Number(h), Number(mi), Number(s), 0);
  if (date.getUTCDate() !== day) return undefined;
  const nanos = frac ? Number(frac.padEnd(9, '0')) : 0;
  let offsetMs = 0;
  if (!z) offsetMs = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  const ms = date.getTime() - offsetMs + Math.floor(nanos / 1e6);
  return { ms, subMsNanos: nanos % 1e6, text };
}

export function isGoZeroTime(instant: Instant): boolean {
  return instant.ms === GO_ZERO_TIME_MS && instant.subMsNanos === 0;
}

/** Go's RFC3339Nano rendering of a UTC instant: fraction with trailing zeros trimmed. */
export function formatRfc3339(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d{3})Z$/, (_, f: string) => {
    const trimmed = f.replace(/0+$/, '');
    return trimmed ? `.${trimmed}Z` : 'Z';
  });
}

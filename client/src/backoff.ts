/**
 * How long to wait before the next connection attempt: full jitter (each client picks anywhere in
 * the window, so a fleet of clients that lost the same pod does not come back in lock-step),
 * the window doubling with each failed attempt from `minMs` up to `maxMs`.
 */
export function reconnectDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, minMs * 2 ** attempt);
  return minMs + random() * (cap - minMs);
}

/** The server is going away (close 1001): back at once, spread over a second. */
export function shutdownDelay(random: () => number): number {
  return random() * 1000;
}

/** Told to slow down (close 4429): at least half the longest delay. */
export function rateLimitedDelay(maxMs: number, random: () => number): number {
  return maxMs / 2 + (random() * maxMs) / 2;
}

/** When to refresh a token that expires in `remainingMs`: a minute before, or a quarter of its life for short ones. */
export function refreshLead(remainingMs: number): number {
  return Math.min(60_000, Math.max(1000, remainingMs / 4));
}

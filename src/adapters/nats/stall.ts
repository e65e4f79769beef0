/**
 * A server that holds its connections and answers nothing (a process paused with SIGSTOP, a VM
 * frozen, a network that black-holes) is not noticed by NATS pings for `ping_interval × max_pings_out`
 * — four minutes with the Go service's settings. The pod asks every second instead and leaves a server
 * that has not answered within STALL_MS for another (docs/deploy.md, *What a dependency's failure does*).
 */
export const STALL_MS = 3000;
export const STALL_CHECK_MS = 1000;

/**
 * 'stalled' when `probe` (a PING's PONG) has not answered within `timeoutMs`; 'failed' when it was
 * refused (the connection is closing: its own handling applies). An event loop that was busy when the
 * time ran out is given its pending I/O first, so that a late timer is not taken for a silent server.
 */
export type Probe = 'answered' | 'stalled' | 'failed';

export function probeWithin(probe: Promise<unknown>, timeoutMs: number): Promise<Probe> {
  let outcome: Probe | undefined;
  const settled = probe.then(
    (): Probe => (outcome = 'answered'),
    (): Probe => (outcome = 'failed'),
  );
  const late = new Promise<Probe>((resolve) => {
    const timer = setTimeout(() => setImmediate(() => resolve(outcome ?? 'stalled')), timeoutMs);
    void settled.then(() => clearTimeout(timer));
  });
  return Promise.race([settled, late]);
}

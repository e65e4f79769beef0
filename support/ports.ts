import { readFileSync } from 'node:fs';

const handedOut = new Set<number>();

/**
 * A port number for a server of the test's own, below the kernel's ephemeral range (32768–60999
 * here): a port from that range may be taken at any moment by some client connection's local end.
 * A port is handed out once per process, and never one the machine already uses: other services
 * listen in this range too (RabbitMQ's 25672 made a gateway fail with EADDRINUSE, 1 run in 50).
 */
export function freePortNumber(): number {
  const taken = portsInUse();
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!handedOut.has(port) && !taken.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** The local ports of every TCP socket on the machine (listening or connected), from /proc/net/tcp and tcp6. */
function portsInUse(): Set<number> {
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6, or not Linux: the random choice alone
    }
    // "  0: 0100007F:63FE 00000000:0000 0A …": the local address's port, in hex, after the colon.
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local) ports.add(Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}

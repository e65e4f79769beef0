const handedOut = new Set<number>();

/**
 * A port number for a server of the test's own, below the kernel's ephemeral range (32768–60999
 * here): a port from that range may be taken at any moment by some client connection's local end.
 * A port is handed out once per process.
 */
export function freePortNumber(): number {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

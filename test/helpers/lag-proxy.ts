import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that holds what its clients write for `lagMs` before passing it on, in order; the
 * other direction goes straight through. In front of nats-server for a pod, it makes every
 * subscription the pod sends reach the server `lagMs` late, while a publisher connected directly
 * is not slowed: the window between a session's `ready` and its pod's subscription, widened.
 *
 * The same direction can also be held (`hold()`): what the clients write is kept back and dropped
 * with the connection, while the server's answers still come through. In front of PostgreSQL for
 * the CDC bridge (lag 0), it keeps the bridge's flush position from reaching the server while the
 * changes still flow: "published, but not yet confirmed".
 */
export class LagProxy {
  private readonly sockets = new Set<Socket>();
  private held = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }, lagMs: number): Promise<LagProxy> {
    let proxy: LagProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(target);
      proxy!.sockets.add(client).add(upstream);
      // Each chunk leaves lagMs after it came: timers of one duration fire in the order they were set.
      const pass = (chunk: Buffer) => proxy!.held || upstream.destroyed || upstream.write(chunk);
      client.on('data', (chunk) => (lagMs > 0 ? setTimeout(() => pass(chunk), lagMs) : pass(chunk)));
      upstream.on('data', (chunk) => client.write(chunk));
      const end = () => {
        client.destroy();
        upstream.destroy();
        proxy!.sockets.delete(client);
        proxy!.sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new LagProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  hold(): void {
    this.held = true;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

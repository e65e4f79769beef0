import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy whose client-to-server direction can be held: while held, what its clients write is
 * kept back (and dropped with the connection); the server's answers still come through. In front of
 * PostgreSQL for the CDC bridge, it keeps the bridge's standby status updates — its flush position —
 * from reaching the server while the changes still flow: "published, but not yet confirmed".
 */
export class HoldProxy {
  private readonly sockets = new Set<Socket>();
  private held = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<HoldProxy> {
    let proxy: HoldProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(target);
      proxy!.sockets.add(client).add(upstream);
      client.on('data', (chunk) => proxy!.held || upstream.destroyed || upstream.write(chunk));
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
    proxy = new HoldProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

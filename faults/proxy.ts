import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy of the fault suite's own, in front of one pod: `blackHole()` makes every
 * connection through it silently drop its traffic both ways — no FIN, no RST — as a client
 * behind a dead NAT or a pulled cable looks to the server.
 */
export class BlackHoleProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(host: string, target: { host: string; port: number }): Promise<BlackHoleProxy> {
    let proxy: BlackHoleProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(target);
      const pair = { client, upstream, dead: false };
      proxy!.pairs.add(pair);
      client.on('data', (d) => pair.dead || upstream.write(d));
      upstream.on('data', (d) => pair.dead || client.write(d));
      const end = () => {
        proxy!.pairs.delete(pair);
        if (pair.dead) return; // a black-holed connection never tells either side
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    proxy = new BlackHoleProxy(server, host, (server.address() as { port: number }).port);
    return proxy;
  }

  get url(): string {
    return `ws://${this.host}:${this.port}`;
  }

  /** Every connection open now stops carrying anything; new connections work. */
  blackHole(): number {
    for (const pair of this.pairs) pair.dead = true;
    return this.pairs.size;
  }

  close(): void {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.server.close();
  }
}

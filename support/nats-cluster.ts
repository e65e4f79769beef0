import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type StreamInfoRequestOptions } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { waitForPort } from './nats-server.js';
import { freePortNumber } from './ports.js';
import { spawnTied } from './spawn-tied.js';

const FETCH_2_10 = new URL('../scripts/fetch-nats-2.10.sh', import.meta.url).pathname;

/**
 * A nats-server 2.10 binary (Debian trixie's 2.10.27, unpacked into a cache by
 * scripts/fetch-nats-2.10.sh), or undefined when it cannot be had. A JetStream cluster needs 2.10:
 * on 2.9.10 the same cluster lost acknowledged events in a leader election (issue 39).
 */
export function nats210(): string | undefined {
  if (process.env.NATS_SERVER_2_10_BIN) return process.env.NATS_SERVER_2_10_BIN;
  try {
    return execFileSync('bash', [FETCH_2_10], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** One server of the cluster: its client port, its route port, its store. */
class ClusterNode {
  child: ChildProcess | undefined;
  /** The last 40 lines of its log (stderr), for an error that says why it did not start or catch up. */
  readonly log: string[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    readonly routePort: number,
    readonly monitorPort: number,
    readonly configFile: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
}

/**
 * Three nats-server processes with JetStream, routed to each other on loopback (cluster `dws`),
 * each with a store of its own: what an R3 stream survives the loss of one of (docs/deploy.md).
 */
export class TestNatsCluster {
  private readonly dir = mkdtempSync(join(tmpdir(), 'dws-nats-cluster-'));
  readonly nodes: ClusterNode[];

  private constructor(private readonly binary: string) {
    const ports = [0, 1, 2].map(() => ({
      client: freePortNumber(),
      route: freePortNumber(),
      monitor: freePortNumber(),
    }));
    this.nodes = ports.map(({ client, route, monitor }, i) => {
      const name = `n${i + 1}`;
      // Every server's routes name all three, itself included (it drops the route to itself), as NATS's own
      // cluster examples do: a server starting afresh expects a JetStream meta group as large as that list.
      const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`);
      const file = join(this.dir, `${name}.conf`);
      writeFileSync(
        file,
        [
          `server_name: ${name}`,
          `listen: 127.0.0.1:${client}`,
          `http: 127.0.0.1:${monitor}`,
          `jetstream { store_dir: "${join(this.dir, name)}" }`,
          `cluster { name: dws, listen: 127.0.0.1:${route}, routes: [${routes.join(', ')}] }`,
          '',
        ].join('\n'),
      );
      return new ClusterNode(name, client, route, monitor, file);
    });
  }

  /** The three servers started, once JetStream answers through each (a meta leader was elected). */
  static async start(binary = nats210()): Promise<TestNatsCluster> {
    if (!binary) throw new Error('no nats-server 2.10 (scripts/fetch-nats-2.10.sh)');
    for (let attempt = 1; ; attempt++) {
      const cluster = new TestNatsCluster(binary);
      try {
        // Two first, until they have elected a meta leader; then the third, which that leader adds to the group.
        // Started together (or one after the other without waiting), a server could be seen by the others before
        // it said it runs JetStream: on a cold boot they then took it for one that does not ("mixed mode") and
        // settled on a meta group of two that never took it in (1 start in 12 here, each costing 30 s).
        await Promise.all([cluster.run(0), cluster.run(1)]);
        await cluster.waitForJetStream(cluster.nodes[0]!.url);
        await cluster.run(2);
        await Promise.all(cluster.nodes.map((node) => cluster.waitForJetStream(node.url)));
        await cluster.waitForPeers();
        return cluster;
      } catch (err) {
        // Why, for the next one to read: each server's routes and what it knows of the JetStream meta group.
        const state = await cluster.describe();
        await cluster.stop();
        // The cluster never formed: again, on fresh ports.
        if (attempt >= 3) throw err;
        process.stderr.write(
          `nats cluster did not form (${(err as Error).message}; ${state}; load ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')}); starting it again\n`,
        );
      }
    }
  }

  /** Each server's routes and meta group as its monitoring port tells them: `n1 routes 2 meta n2/3`, … */
  async describe(): Promise<string> {
    const parts = await Promise.all(
      this.nodes.map(async (node) => {
        const get = (path: string) =>
          fetch(`http://127.0.0.1:${node.monitorPort}${path}`, { signal: AbortSignal.timeout(2000) })
            .then((r) => r.json() as Promise<Record<string, unknown>>)
            .catch(() => undefined);
        const [routez, jsz] = await Promise.all([get('/routez'), get('/jsz')]);
        const meta = jsz?.meta_cluster as { leader?: string; cluster_size?: number } | undefined;
        return `${node.name} routes ${routez?.num_routes ?? '?'} meta ${meta?.leader ?? 'none'}/${meta?.cluster_size ?? '?'}`;
      }),
    );
    return parts.join(', ');
  }

  /** The servers' process ids (the bench sums their CPU). */
  get pids(): number[] {
    return this.nodes.map((n) => n.child?.pid ?? 0);
  }

  /** Every server, comma-separated: the form `nats.url` takes. */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  /** Starts server `i` (again, on its store). */
  async run(i: number): Promise<void> {
    const node = this.nodes[i]!;
    const child = spawnTied(this.binary, ['-c', node.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    node.child = child;
    const log = node.log;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      // Not the route connections opened and closed: dozens a start, and they would push out what matters.
      log.push(...chunk.split('\n').filter((line) => line && !/Route connection|Router connection/.test(line)));
      log.splice(0, log.length - 40);
    });
    try {
      await waitForPort(node.port, 20_000);
    } catch (err) {
      throw new Error(`${node.name} did not start (exit ${child.exitCode}): ${log.slice(-8).join(' | ')}`, {
        cause: err,
      });
    }
  }

  async kill(i: number): Promise<void> {
    const child = this.nodes[i]!.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Killed, then started again on its store once it is gone. */
  async restart(i: number): Promise<void> {
    await this.kill(i);
    await this.run(i);
  }

  /** SIGTERM (nats-server shuts down cleanly), and its exit. */
  async stopGracefully(i: number): Promise<void> {
    const child = this.nodes[i]!.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  /**
   * Until `stream` has a leader and both its followers are current (a restarted server caught up).
   *
   * nats-server 2.10.27 sometimes leaves a server restarted after SIGKILL behind for good: its copy of the stream
   * never answers the leader again (`current false`, last heard at the kill; 2 runs of clustered-deps in about
   * 50 here, and once in CI). NATS's maintainers point to 2.11 for catch-up fixes of this kind. A
   * follower still behind after `restartAfterMs` is restarted once, as an operator would, and said so on stderr:
   * what the tests exercise next needs three current copies, and the gateway has nothing to do with the catch-up.
   */
  async caughtUp(stream: string, timeoutMs = 60_000, restartAfterMs = 20_000): Promise<void> {
    const started = Date.now();
    let restarted = false;
    for (;;) {
      const info = await this.streamInfo(stream).catch(() => undefined);
      const replicas = info?.cluster?.replicas ?? [];
      if (info?.cluster?.leader && replicas.length === 2 && replicas.every((r) => r.current)) return;
      const behind = replicas.filter((r) => !r.current);
      const state = () =>
        `leader ${info?.cluster?.leader ?? 'none'}, ${replicas
          .map(
            (r) =>
              `${r.name} current ${r.current} lag ${r.lag ?? '?'} heard ${Math.round((r.active ?? 0) / 1e6)} ms ago`,
          )
          .join(', ')}`;
      if (!restarted && behind.length > 0 && Date.now() - started > restartAfterMs) {
        restarted = true;
        process.stderr.write(
          `nats cluster: stream ${stream} still behind after ${restartAfterMs} ms (${state()}); restarting ${behind.map((r) => r.name).join(', ')}\n`,
        );
        for (const i of behind.map((r) => this.indexOf(r.name)).filter((i) => i >= 0)) await this.restart(i);
      }
      if (Date.now() - started > timeoutMs) {
        const logs = behind.map((r) => `\n${r.name}'s log:\n${this.nodes[this.indexOf(r.name)]?.log.join('\n')}`);
        throw new Error(
          `stream ${stream} did not catch up on every server (${state()}; ${await this.describe()})${logs.join('')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGSTOP / SIGCONT: the server holds its connections and answers nothing. */
  signal(i: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.nodes[i]!.child?.kill(signal);
  }

  /** The index of the server holding most client connections whose name contains `name` (a pod id). */
  async serverOf(name: string): Promise<number> {
    const counts = await Promise.all(
      this.nodes.map(async (node) => {
        const connz = await fetch(`http://127.0.0.1:${node.monitorPort}/connz?limit=4096`, {
          signal: AbortSignal.timeout(2000),
        })
          .then((r) => r.json() as Promise<{ connections?: Array<{ name?: string }> }>)
          .catch(() => ({ connections: [] }));
        return (connz.connections ?? []).filter((c) => c.name?.includes(name)).length;
      }),
    );
    const most = Math.max(...counts);
    if (most === 0) throw new Error(`no server holds a connection named *${name}*`);
    return counts.indexOf(most);
  }

  indexOf(serverName: string): number {
    return this.nodes.findIndex((n) => n.name === serverName);
  }

  /** The index of the server that leads `stream` now (`$JS.API.STREAM.INFO` → cluster.leader), other than `not`. */
  async leaderOf(stream: string, not?: number): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await this.streamInfo(stream).catch(() => undefined);
      const leader = info?.cluster?.leader;
      if (leader && this.indexOf(leader) !== not) return this.indexOf(leader);
      if (Date.now() > deadline) throw new Error(`stream ${stream} has no leader`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * The stream's info, asked through whichever server answers. Right after a server is killed the JetStream API
   * may not answer for a few seconds (a meta leader election): a request that times out is asked again, for 15 s.
   */
  async streamInfo(stream: string, options?: Partial<StreamInfoRequestOptions>) {
    const nc = await connect({ servers: this.nodes.map((n) => n.url), timeout: 1000 });
    const deadline = Date.now() + 15_000;
    try {
      for (;;) {
        try {
          return await (await jetstreamManager(nc, { timeout: 1000 })).streams.info(stream, options);
        } catch (err) {
          if ((err as Error).name !== 'TimeoutError' || Date.now() > deadline) throw err;
        }
      }
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    for (const [i, node] of this.nodes.entries()) {
      node.child?.kill('SIGCONT');
      await this.kill(i);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Until an R3 stream can be placed: every server has joined the meta group. */
  private async waitForPeers(): Promise<void> {
    const deadline = Date.now() + 30_000;
    const nc = await connect({ servers: this.nodes.map((n) => n.url), timeout: 2000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      for (;;) {
        try {
          await jsm.streams.add({ name: 'cluster_probe', subjects: ['cluster.probe'], num_replicas: 3 });
          await jsm.streams.delete('cluster_probe');
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`the cluster cannot place an R3 stream (${(err as Error).message})`, { cause: err });
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      await nc.close();
    }
  }

  private async waitForJetStream(url: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const nc = await connect({ servers: url, timeout: 2000 });
        try {
          await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
          return;
        } finally {
          await nc.close();
        }
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`JetStream does not answer at ${url}`, { cause: err });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitForPort } from './nats-server.js';
import { freePortNumber } from './ports.js';
import { spawnTied } from './spawn-tied.js';

export const MASTER_NAME = 'dws';

/** A redis-server (data or sentinel) of the set. */
class Member {
  child: ChildProcess | undefined;
  /** host:port of the master this data member replicates, if it is a replica. */
  replicaOf: string | undefined;

  constructor(
    readonly port: number,
    readonly args: string[],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

/**
 * Redis with Sentinel on loopback: a master, one replica and three sentinels watching them
 * (quorum 2, a master down after 1 s). Killing the master makes the sentinels promote the
 * replica; the killed one comes back as a replica of the new master.
 */
export class TestRedisSentinel {
  private readonly dir = mkdtempSync(join(tmpdir(), 'dws-sentinel-'));
  /** [0] the first master, [1] its replica. */
  readonly data: Member[];
  readonly sentinels: Member[];

  private constructor() {
    const [m, r] = [freePortNumber(), freePortNumber()];
    // A replica's full sync writes an RDB file into --dir even without --save: the set's own directory.
    const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    this.data = [new Member(m, ['--port', String(m), ...base]), new Member(r, ['--port', String(r), ...base])];
    this.data[1]!.replicaOf = `127.0.0.1:${m}`;
    this.sentinels = [0, 1, 2].map((i) => {
      const port = freePortNumber();
      const file = join(this.dir, `sentinel-${i}.conf`);
      // A sentinel rewrites its file as it learns (replicas, other sentinels, the epoch).
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${this.dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${m} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      return new Member(port, [file, '--sentinel']);
    });
  }

  static async start(): Promise<TestRedisSentinel> {
    const set = new TestRedisSentinel();
    for (const member of [...set.data, ...set.sentinels]) await set.run(member);
    // The sentinels know the replica (from the master's INFO) before a failover can promote it.
    await set.until(async () => (await set.askSentinel(['SENTINEL', 'REPLICAS', MASTER_NAME])).length > 0);
    return set;
  }

  /** `redis.sentinel_addresses`. */
  get sentinelAddresses(): string[] {
    return this.sentinels.map((s) => s.address);
  }

  /** host:port of the master the sentinels name now (once they all name the same). */
  async master(): Promise<string> {
    let named = '';
    await this.until(async () => {
      const answers = await Promise.all(
        this.sentinels.map((s) => this.askOne(s, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME])),
      );
      const all = new Set(answers.map((a) => (a ? (a as string[]).join(':') : 'none')));
      named = [...all][0]!;
      return all.size === 1 && named !== 'none';
    });
    return named;
  }

  /** The data member at `address`. */
  member(address: string): Member {
    const m = this.data.find((d) => d.address === address);
    if (!m) throw new Error(`no data member at ${address}`);
    return m;
  }

  /**
   * Kills the master (SIGKILL) and waits until the sentinels name another; resolves with the
   * new master's address. The killed one is started again as a replica when `restart`.
   * `beforeKill` runs once the master is known, right before it dies.
   */
  async failover(restart = true, beforeKill?: () => void | Promise<void>): Promise<string> {
    const old = await this.master();
    const member = this.member(old);
    await beforeKill?.();
    await this.kill(member);
    let next = old;
    await this.until(async () => {
      next = await this.master();
      return next !== old;
    }, 30_000);
    if (restart) {
      member.replicaOf = next;
      await this.run(member);
    }
    return next;
  }

  /** The data member that is not the master (the replica to promote). */
  async replica(): Promise<Member> {
    const master = await this.master();
    return this.data.find((d) => d.address !== master)!;
  }

  /** SIGSTOP / SIGCONT a member: a paused replica falls behind its master. */
  signal(member: Member, signal: 'SIGSTOP' | 'SIGCONT'): void {
    member.child?.kill(signal);
  }

  async kill(member: Member): Promise<void> {
    const child = member.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    for (const m of [...this.sentinels, ...this.data]) await this.kill(m);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(member: Member): Promise<void> {
    const replica = member.replicaOf ? ['--replicaof', ...member.replicaOf.split(':')] : [];
    member.child = spawnTied('redis-server', [...member.args, ...replica], { stdio: 'ignore' });
    await waitForPort(member.port, 10_000);
  }

  private async askSentinel(command: string[]): Promise<unknown[]> {
    for (const s of this.sentinels) {
      const answer = await this.askOne(s, command);
      if (answer) return answer;
    }
    throw new Error('no sentinel answers');
  }

  private async askOne(sentinel: Member, command: string[]): Promise<unknown[] | undefined> {
    const client = new Redis({ port: sentinel.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.call(command[0]!, ...command.slice(1))) as unknown[];
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  }

  private async until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error('the sentinels did not get there in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

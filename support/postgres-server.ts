import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePortNumber } from './ports.js';
import { waitForPort } from './nats-server.js';
import { spawnTied } from './spawn-tied.js';

const BIN = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own with `wal_level=logical` (the machine's runs with `replica`):
 * initdb into a temporary directory and `postgres` on a free loopback port. initdb refuses root, so
 * as root both run as the `postgres` user (spawned with its uid and gid: signals reach postgres itself). Trust authentication on loopback; superuser `postgres`.
 */
export class TestPostgres {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** The postmaster's pid (its backends are its children). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static available(): boolean {
    return existsSync(join(BIN, 'initdb'));
  }

  static async start(settings: Record<string, string> = {}): Promise<TestPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'dws-pg-'));
    const server = new TestPostgres(dir, freePortNumber());
    if (asRoot()) {
      const { uid, gid } = postgresUser();
      chownSync(dir, uid, gid);
    }
    chmodSync(dir, 0o700);
    run(join(BIN, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    server.settings = settings;
    await server.run();
    return server;
  }

  private settings: Record<string, string> = {};

  /** Starts the cluster (again, on its data directory). */
  async run(): Promise<void> {
    const options = {
      wal_level: 'logical',
      max_wal_senders: '10',
      max_replication_slots: '10',
      // No fsync (a process crash keeps what was written; only a machine crash would lose it), but every
      // commit is written before it returns: an immediate shutdown must not lose a committed row.
      fsync: 'off',
      full_page_writes: 'off',
      listen_addresses: '127.0.0.1',
      port: String(this.port),
      unix_socket_directories: this.dir,
      ...this.settings,
    };
    const args = ['-D', join(this.dir, 'data'), ...Object.entries(options).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    this.child = spawnTied(join(BIN, 'postgres'), args, { stdio: 'ignore', ...(asRoot() ? postgresUser() : {}) });
    await waitForPort(this.port, 20_000);
    // Listening is not accepting: after an immediate shutdown the server recovers first (57P03).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const client = new pg.Client(this.url);
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /** `fast`: SIGINT (sessions ended, a clean shutdown); `immediate`: SIGQUIT (crash recovery at the next start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exited;
    await waitForPortClosed(this.port);
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function asRoot(): boolean {
  return userInfo().uid === 0;
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(binary: string, args: string[]): void {
  execFileSync(binary, args, { stdio: 'ignore', cwd: '/', ...(asRoot() ? postgresUser() : {}) });
}

async function waitForPortClosed(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await waitForPort(port, 50);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

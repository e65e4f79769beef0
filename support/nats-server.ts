import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortNumber } from './ports.js';
import { spawnTied } from './spawn-tied.js';

const BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';

/** A nats-server with JetStream of the test's own, on a random port with a temporary store. */
export class TestNatsServer {
  private child: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'dws-nats-'));

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
    private readonly binary: string,
  ) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `extraArgs`: more of nats-server's flags (`--user u --pass p`, …); `binary`: another nats-server (2.10). */
  static async start(extraArgs: string[] = [], binary = BINARY): Promise<TestNatsServer> {
    const server = new TestNatsServer(freePortNumber(), extraArgs, binary);
    await server.run();
    return server;
  }

  async run(): Promise<void> {
    this.child = spawnTied(
      this.binary,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir, ...this.extraArgs],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 10_000);
  }

  /** SIGSTOP / SIGCONT: the process is there but answers nothing (a paused VM, a GC storm). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host }, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

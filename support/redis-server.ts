import type { ChildProcess } from 'node:child_process';
import { freePortNumber } from './ports.js';
import { waitForPort } from './nats-server.js';
import { spawnTied } from './spawn-tied.js';

/** A redis-server of the test's own (no persistence), to kill, pause or restart empty. */
export class TestRedisServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedisServer> {
    const server = new TestRedisServer(freePortNumber());
    await server.run();
    return server;
  }

  async run(): Promise<void> {
    this.child = spawnTied(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 10_000);
  }

  /** SIGSTOP / SIGCONT: the process is there but answers nothing (a paused VM, a GC storm). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal);
  }

  /** SIGKILL: everything in it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

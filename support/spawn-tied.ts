import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Whether util-linux's setpriv can set a parent-death signal here (Linux; Debian has it in every install).
 * Asked once, on first use.
 */
let tieable: boolean | undefined;

/**
 * Spawns a server or a pod that dies with the process that started it, however that process ends: `setpriv
 * --pdeathsig KILL` asks the kernel to kill it when its parent goes, then becomes it (the pid stays the
 * child's, so SIGSTOP and SIGKILL reach the server itself). A test file killed half-way (a timeout, Ctrl-C,
 * SIGKILL) so leaves no nats-server, redis-server, postgres or pod behind. Without setpriv, a plain spawn.
 */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  tieable ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true']).status === 0;
  return tieable
    ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, args, options);
}

import { readFileSync } from 'node:fs';

export { cpuSecondsOf } from '../../support/cpu.js';

/** Resident memory of a process, in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

export const MiB = 1024 * 1024;

import { readdirSync, readFileSync } from 'node:fs';

/** CPU time a process has used so far (user and system), in seconds. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 a second)
}

/** CPU time of a process and its live descendants (a PostgreSQL server and its backends), in seconds. */
export function cpuSecondsOfTree(pid: number): number {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const visit = (p: number) => {
    try {
      total += cpuSecondsOf(p);
    } catch {
      return;
    }
    for (const [child, parent] of parents) if (parent === p) visit(child);
  };
  visit(pid);
  return total;
}

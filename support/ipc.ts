import type { ChildProcess } from 'node:child_process';

/** The next message of `type` from a child process (the client processes of the storm test and the fault suite). */
export function replyFrom<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

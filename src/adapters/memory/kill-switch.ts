import type { KillHandler, KillMessage, KillSwitch } from '../../domain/ports.js';

/** In one process every kill message reaches the only pod, which ignores its own. */
export class MemoryKillSwitch implements KillSwitch {
  private handler: KillHandler | undefined;

  async publish(channel: string, message: KillMessage): Promise<void> {
    const handler = this.handler;
    if (handler) queueMicrotask(() => handler(channel, message));
  }

  async listen(handler: KillHandler): Promise<void> {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.handler = undefined;
  }
}

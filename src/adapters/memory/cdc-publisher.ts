import type { CdcChange, CdcPublisher, CdcRecovery, EventStream } from '../../domain/ports.js';

/**
 * The CDC bridge's stream side in the embedded single node: changes go into the node's own stream.
 * That stream starts empty at each start (a new epoch), so there is nothing to recover.
 */
export class MemoryCdcPublisher implements CdcPublisher {
  constructor(private readonly stream: EventStream) {}

  async prepare(): Promise<void> {}

  async recover(): Promise<CdcRecovery> {
    return { checkpoint: undefined, published: new Map(), lastSeq: 0 };
  }

  async publish(change: CdcChange): Promise<number> {
    return (await this.stream.publish(change.subject, change.data)).seq;
  }

  async checkpoint(): Promise<void> {}
}

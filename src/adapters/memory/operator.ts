import type { Block, BlockStore, OperatorBus, OperatorRequest, PodAnswer, PodDirectory } from '../../domain/ports.js';

/** The embedded engine has one pod: a request is answered by it. */
export class MemoryOperatorBus implements OperatorBus {
  private answer: ((request: OperatorRequest) => PodAnswer) | undefined;

  serve(answer: (request: OperatorRequest) => PodAnswer): void {
    this.answer = answer;
  }

  async ask(request: OperatorRequest): Promise<PodAnswer[]> {
    return this.answer ? [this.answer(request)] : [];
  }

  async close(): Promise<void> {
    this.answer = undefined;
  }
}

/** One pod: the one that announces itself. */
export class MemoryPodDirectory implements PodDirectory {
  private readonly seen = new Map<string, number>();

  async announce(podId: string, nowMs: number): Promise<void> {
    this.seen.set(podId, nowMs);
  }

  async alive(sinceMs: number): Promise<string[]> {
    return [...this.seen].filter(([, at]) => at >= sinceMs).map(([id]) => id);
  }

  async leave(podId: string): Promise<void> {
    this.seen.delete(podId);
  }
}

/** Blocks of a single node: in its memory (they end with the process; a fleet keeps them in Redis). */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, Block>();

  async put(key: string, block: Block): Promise<void> {
    const held = this.blocks.get(key);
    if (!held || block.untilMs >= held.untilMs) this.blocks.set(key, block);
  }

  async inForce(nowMs: number): Promise<Map<string, Block>> {
    for (const [key, block] of this.blocks) if (block.untilMs <= nowMs) this.blocks.delete(key);
    return new Map(this.blocks);
  }
}

/**
 * A bounded set of recently seen ids (oldest forgotten first). The router uses it to deliver an
 * event at most once per pod when the stream redelivers it after a failover: the pod that
 * routed it may have delivered it and died before acknowledging.
 */
export class RecentIds {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];
  private head = 0;

  constructor(private readonly capacity: number) {}

  /** True when `id` was already seen; otherwise remembers it. */
  checkAndAdd(id: string): boolean {
    if (this.seen.has(id)) return true;
    this.seen.add(id);
    this.order.push(id);
    if (this.seen.size > this.capacity) {
      this.seen.delete(this.order[this.head++]!);
      if (this.head > this.capacity) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
    }
    return false;
  }
}

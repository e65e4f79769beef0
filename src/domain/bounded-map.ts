/**
 * A Map that forgets its oldest entry when full: per-address tables stay bounded however many
 * addresses an attacker cycles through.
 */
export class BoundedMap<V> extends Map<string, V> {
  constructor(private readonly max = 100_000) {
    super();
  }

  override set(key: string, value: V): this {
    if (!this.has(key) && this.size >= this.max) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }
}

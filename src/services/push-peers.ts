import type { Config } from '../platform/config/schema.js';
import { AddressList, isLoopback } from '../domain/addresses.js';
import type { RouteRegistry } from '../domain/ports.js';
import { systemClock, type Clock } from '../domain/clock.js';

/** An unknown peer makes the route sets be read again at most this often. */
const POD_IDS_REFRESH_MS = 10_000;

/**
 * Who may call PushEvent (SECURITY.md, *Limits*): the addresses and CIDRs of `grpc.allowed_peers`; when that
 * is empty, loopback and the pod ids found in route sets (Go replicas register there, by the
 * address other pods dial).
 */
export class PushPeers {
  private list: { entries: readonly string[]; list: AddressList } | undefined;
  private podIds = new Set<string>();
  private podIdsAt = -Infinity;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly config: () => Pick<Config, 'grpc'>,
    private readonly routes: RouteRegistry,
    private readonly now: Clock = systemClock,
  ) {}

  async allows(address: string): Promise<boolean> {
    const entries = this.config().grpc.allowed_peers;
    if (entries.length > 0) return this.listOf(entries).has(address);
    if (isLoopback(address) || this.podIds.has(address)) return true;
    if (this.now() - this.podIdsAt >= POD_IDS_REFRESH_MS) {
      this.refreshing ??= this.refreshPodIds();
      await this.refreshing;
    }
    return this.podIds.has(address);
  }

  private listOf(entries: readonly string[]): AddressList {
    if (this.list?.entries !== entries) this.list = { entries, list: new AddressList(entries) };
    return this.list.list;
  }

  private async refreshPodIds(): Promise<void> {
    this.podIdsAt = this.now();
    try {
      this.podIds = await this.routes.podIds();
    } catch {
      // Redis unreachable: keep what was known; loopback and the configured list still work.
    } finally {
      this.refreshing = undefined;
    }
  }
}

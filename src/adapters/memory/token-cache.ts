import type { TokenCache } from '../../domain/ports.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryTokenCache implements TokenCache {
  constructor(private readonly map = new ExpiringMap<string>()) {}

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.map.set(key, value, ttlSeconds);
  }
}

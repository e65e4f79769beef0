import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isProduction, loadConfig, type LoadOptions, type LoadedConfig } from './load.js';
import { allKeys, type Config } from './schema.js';

export type ConfigListener = (next: Config, previous: Config) => void;

export interface ReloadResult {
  ok: boolean;
  error?: string;
  /** Changed keys that only take effect after a restart. */
  restartNeeded: string[];
}

/**
 * The live configuration: frozen snapshots, replaced whole on SIGHUP or when the file changes.
 * An invalid new file keeps the old snapshot.
 */
export class ConfigStore {
  private current: LoadedConfig;
  private readonly listeners = new Set<ConfigListener>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly onSighup = () => this.emitReload('SIGHUP');
  private reloadObserver: ((source: string, result: ReloadResult) => void) | undefined;

  constructor(private readonly options: LoadOptions = {}, initial?: LoadedConfig) {
    this.current = initial ?? loadConfig(options);
  }

  get(): Config {
    return this.current.config;
  }

  get file(): string | undefined {
    return this.current.file;
  }

  /** NODE_ENV=production in the environment the configuration is read from. */
  get production(): boolean {
    return isProduction(this.options.env ?? process.env);
  }

  get warnings(): string[] {
    return this.current.warnings;
  }

  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reload(): ReloadResult {
    let next: LoadedConfig;
    try {
      next = loadConfig(this.options);
    } catch (err) {
      return { ok: false, error: (err as Error).message, restartNeeded: [] };
    }
    const previous = this.current.config;
    this.current = next;
    for (const listener of this.listeners) listener(next.config, previous);
    return { ok: true, restartNeeded: restartKeysChanged(previous, next.config) };
  }

  /** Reloads on SIGHUP and on changes of the config file; `observer` hears every outcome. */
  watch(observer: (source: string, result: ReloadResult) => void): void {
    this.reloadObserver = observer;
    process.on('SIGHUP', this.onSighup);
    const file = this.current.file;
    if (!file) return;
    // Watch the directory: editors and ConfigMaps replace the file rather than write into it.
    this.watcher = watch(dirname(file), (_event, name) => {
      if (name && name.toString() !== basename(file)) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.emitReload('file change'), 100);
    });
  }

  close(): void {
    process.off('SIGHUP', this.onSighup);
    clearTimeout(this.debounce);
    this.watcher?.close();
  }

  private emitReload(source: string): void {
    this.reloadObserver?.(source, this.reload());
  }
}

function restartKeysChanged(a: Config, b: Config): string[] {
  const get = (c: Config, path: string[]) => path.reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], c);
  return allKeys()
    .filter(([path, spec]) => spec.restart && get(a, path) !== get(b, path))
    .map(([path]) => path.join('.'));
}

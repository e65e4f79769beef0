import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { missingSecrets } from './dev-secrets.js';
import { digestOf, isProduction, loadConfig, type LoadOptions, type LoadedConfig } from './load.js';
import { allKeys, type Config } from './schema.js';

export type ConfigListener = (next: Config, previous: Config) => void;

export interface ReloadResult {
  ok: boolean;
  error?: string;
  /** Changed keys that only take effect after a restart. */
  restartNeeded: string[];
}

export type ReloadListener = (source: string, result: ReloadResult) => void;

/**
 * The live configuration: frozen snapshots, replaced whole on SIGHUP or when the file changes.
 * A new file that is invalid, empty or gone keeps the running snapshot (as viper does): a
 * truncated ConfigMap must not wipe every secret.
 */
export class ConfigStore {
  private current: LoadedConfig;
  private readonly listeners = new Set<ConfigListener>();
  private readonly reloadListeners = new Set<ReloadListener>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  /** The digest of the file as last seen by the watcher ('gone' when it could not be read). */
  private seenDigest: string | undefined;
  private readonly onSighup = () => this.emitReload('SIGHUP');

  constructor(
    private readonly options: LoadOptions = {},
    initial?: LoadedConfig,
  ) {
    this.current = initial ?? loadConfig(options);
    this.seenDigest = this.current.digest;
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

  /** Hears the outcome of every reload triggered by SIGHUP or the file (see watch()). */
  onReload(listener: ReloadListener): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  reload(): ReloadResult {
    let next: LoadedConfig;
    try {
      next = loadConfig(this.options);
    } catch (err) {
      return { ok: false, error: (err as Error).message, restartNeeded: [] };
    }
    const had = this.current.file;
    if (had && !next.file)
      return { ok: false, error: `${had} is gone; keeping the running configuration`, restartNeeded: [] };
    if (had && next.empty && !this.current.empty)
      return { ok: false, error: `${next.file} is empty; keeping the running configuration`, restartNeeded: [] };
    const lost = missingSecrets(next.config).filter((k) => !missingSecrets(this.current.config).includes(k));
    if (lost.length > 0)
      return {
        ok: false,
        error: `the new configuration has no ${lost.join(', ')}; keeping the running configuration`,
        restartNeeded: [],
      };
    const previous = this.current.config;
    this.current = next;
    this.seenDigest = next.digest;
    for (const listener of this.listeners) listener(next.config, previous);
    return { ok: true, restartNeeded: restartKeysChanged(previous, next.config) };
  }

  /**
   * Reloads on SIGHUP and whenever the file's bytes change. The directory is watched, not the
   * file: editors replace the file, and a Kubernetes ConfigMap update swaps the `..data` symlink
   * the file points through, so any event in the directory makes the file be read again.
   */
  watch(): void {
    process.on('SIGHUP', this.onSighup);
    const file = this.current.file;
    if (!file) return;
    this.watcher = watch(dirname(file), () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.fileEvent(file), 100);
    });
  }

  close(): void {
    process.off('SIGHUP', this.onSighup);
    clearTimeout(this.debounce);
    this.watcher?.close();
  }

  private fileEvent(file: string): void {
    const digest = digestOf(file) ?? 'gone';
    if (digest === this.seenDigest) return;
    this.seenDigest = digest;
    this.emitReload('file change');
  }

  private emitReload(source: string): void {
    const result = this.reload();
    for (const listener of this.reloadListeners) listener(source, result);
  }
}

function restartKeysChanged(a: Config, b: Config): string[] {
  const get = (c: Config, path: string[]) =>
    JSON.stringify(path.reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], c));
  return allKeys()
    .filter(([path, spec]) => spec.restart && get(a, path) !== get(b, path))
    .map(([path]) => path.join('.'));
}

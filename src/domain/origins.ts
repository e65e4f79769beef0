/**
 * server.allowed_origins (docs/protocol.md, *HTTP*): which pages on other origins may open a
 * WebSocket, beside the same-host rule. An entry is an exact origin (`https://crm.example.com`,
 * `http://localhost:3000`) or a pattern for every subdomain of a domain (`*.example.com`, any
 * scheme and port; `https://*.example.com`, that scheme only).
 */

/** Why an entry is not an origin or a pattern (one line), or undefined when it is one. */
export function originEntryProblem(entry: string): string | undefined {
  const pattern = /^(?:(https?):\/\/)?\*\.([a-z0-9-]+(?:\.[a-z0-9-]+)+)$/i.exec(entry);
  if (pattern) return undefined;
  if (entry.includes('*')) return `${entry} is not a pattern: write *.example.com or https://*.example.com`;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `${entry} is not an origin (scheme://host[:port])`;
  }
  if (url.origin === 'null' || url.origin !== entry.toLowerCase().replace(/\/$/, ''))
    return `${entry} is not an origin (scheme://host[:port], no path)`;
  return undefined;
}

/** Whether the Origin header's value is one of the entries or matches one of the patterns. */
export function originAllowed(origin: string, entries: readonly string[]): boolean {
  if (entries.length === 0) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const scheme = url.protocol.slice(0, -1);
  const host = url.hostname.toLowerCase();
  for (const entry of entries) {
    const star = entry.indexOf('*.');
    if (star < 0) {
      if (url.origin === entry.toLowerCase().replace(/\/$/, '')) return true;
      continue;
    }
    const wanted = star > 0 ? entry.slice(0, star - 3).toLowerCase() : undefined;
    if (wanted !== undefined && wanted !== scheme) continue;
    if (host.endsWith(entry.slice(star + 1).toLowerCase())) return true;
  }
  return false;
}

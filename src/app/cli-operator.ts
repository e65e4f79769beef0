import { parseArgs } from 'node:util';
import type { SessionInfo } from '../domain/ports.js';

/**
 * `daisi-ws sessions` and `daisi-ws disconnect`: the operator API (docs/protocol.md, *Operator API*)
 * from a terminal, against a running pod, with the admin key (cli.ts says where both come from). A
 * readable table by default, the API's JSON with `--json`.
 */
export const OPERATOR_USAGES = {
  sessions: `  daisi-ws sessions         list who is connected where, over the fleet
      [--company C] [--agent A] [--user U] [--admin ID] [--limit N] [--url URL] [--key KEY] [--json]`,
  disconnect: `  daisi-ws disconnect       end sessions on every pod (and block them a while)
      --company C [--agent A] [--user U] | --admin ID  [--reason R] [--block SECONDS] [--url URL] [--key KEY] [--json]`,
};

export const NO_ADMIN_KEY =
  'no admin key: pass --key, or set DAISI_WS_ADMIN_KEY (or auth.admin_secret_token) to the admin API key';

/** Where the verbs go, and the admin key they send. */
export interface OperatorTarget {
  url: string;
  key: string | undefined;
}

interface Output {
  out(text: string): void;
  err(text: string): void;
}

interface PodRow {
  pod_id: string;
  sessions: number;
  answered: boolean;
  events_per_second?: number;
  frames_per_second?: number;
}

const COMMON = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  company: { type: 'string' },
  agent: { type: 'string' },
  user: { type: 'string' },
  admin: { type: 'string' },
} as const;

export async function sessionsCommand(args: string[], target: OperatorTarget, io: Output): Promise<number> {
  const { values } = parseArgs({ args, options: { ...COMMON, limit: { type: 'string' } } });
  const query = new URLSearchParams();
  for (const [flag, param] of [
    ['company', 'company_id'],
    ['agent', 'agent_id'],
    ['user', 'user_id'],
    ['admin', 'admin_id'],
  ] as const) {
    if (values[flag]) query.set(param, values[flag]);
  }
  if (values.limit) query.set('limit', values.limit);
  const answer = await call(target, `/api/sessions?${query}`, io);
  if (typeof answer === 'number') return answer;
  if (values.json) io.out(JSON.stringify(answer, null, 2));
  else
    io.out(sessionsTable(answer as { sessions: SessionInfo[]; pods: PodRow[]; complete: boolean; truncated: boolean }));
  return 0;
}

export async function disconnectCommand(args: string[], target: OperatorTarget, io: Output): Promise<number> {
  const { values } = parseArgs({ args, options: { ...COMMON, reason: { type: 'string' }, block: { type: 'string' } } });
  if (!values.company && !values.admin) {
    io.err('daisi-ws disconnect: --company (with --agent, --user) or --admin is required');
    return 2;
  }
  const body = {
    company_id: values.company,
    agent_id: values.agent,
    user_id: values.user,
    admin_id: values.admin,
    reason: values.reason,
    block_seconds: values.block === undefined ? undefined : Number(values.block),
  };
  const answer = await call(target, '/api/disconnect', io, body);
  if (typeof answer === 'number') return answer;
  const result = answer as { disconnected: number; pods: PodRow[]; complete: boolean };
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else {
    const block = values.block ? `; blocked for ${values.block} s on every daisi-ws pod` : '';
    io.out(`disconnected ${result.disconnected} session(s)${block}`);
    io.out(podsLine(result.pods, result.complete));
  }
  return 0;
}

/** The answer's JSON, or the exit code after one line saying what went wrong. */
async function call({ url: base, key }: OperatorTarget, path: string, io: Output, body?: unknown): Promise<unknown> {
  if (!key) {
    io.err(`daisi-ws: ${NO_ADMIN_KEY}`);
    return 2;
  }
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((err: Error) => err);
  if (res instanceof Error) {
    io.err(`daisi-ws: cannot reach ${base} (${res.message})`);
    return 1;
  }
  const answer = (await res.json().catch(() => undefined)) as
    | { code?: string; message?: string; details?: string }
    | undefined;
  if (!res.ok) {
    const why = answer
      ? `${answer.code}: ${answer.message}${answer.details ? ` (${answer.details})` : ''}`
      : res.statusText;
    io.err(`daisi-ws: ${res.status} ${why}`);
    return res.status === 400 ? 2 : 1;
  }
  return answer;
}

function sessionsTable(answer: {
  sessions: SessionInfo[];
  pods: PodRow[];
  complete: boolean;
  truncated: boolean;
}): string {
  const now = Date.now();
  const rows = answer.sessions.map((s) => [
    s.pod_id,
    s.type,
    s.company_id ?? '',
    s.agent_id ?? '',
    s.user_id ?? s.admin_id ?? '',
    s.chat_id ?? '',
    `${s.connected_at.replace('T', ' ').slice(0, 19)} (${ago(now - Date.parse(s.connected_at))})`,
  ]);
  const lines = table(['POD', 'TYPE', 'COMPANY', 'AGENT', 'USER / ADMIN', 'CHAT', 'CONNECTED'], rows);
  const shown = `${answer.sessions.length} session(s)${answer.truncated ? ' shown, more match (--limit)' : ''}`;
  return [...lines, '', shown, podsLine(answer.pods, answer.complete)].join('\n');
}

function podsLine(pods: PodRow[], complete: boolean): string {
  const each = pods.map((p) =>
    p.answered
      ? `${p.pod_id} ${p.sessions} session(s), ${p.events_per_second ?? 0} events/s, ${p.frames_per_second ?? 0} frames/s`
      : `${p.pod_id} DID NOT ANSWER`,
  );
  return `pods${complete ? '' : ' (incomplete)'}: ${each.join('; ')}`;
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type pg from 'pg';
import { baseEnv, freePortNumber } from './env.js';
import { waitFor } from './wait.js';
import { spawnTied } from '../../support/spawn-tied.js';

const CLI = new URL('../../src/app/cli.ts', import.meta.url).pathname;

export interface CdcProcess {
  process: ChildProcess;
  output: string[];
  http: string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `daisi-ws cdc` as its own process, on `host` (its /health, /ready, /metrics there). */
export async function spawnCdc(host: string, overrides: Record<string, string>): Promise<CdcProcess> {
  const port = freePortNumber();
  const env = {
    ...process.env,
    ...baseEnv({ DAISI_WS_SERVER_HOST: host, DAISI_WS_SERVER_HTTP_PORT: String(port), ...overrides }),
    DAISI_WS_LOG_LEVEL: 'info',
  };
  const child = spawnTied(process.execPath, ['--import', 'tsx', CLI, 'cdc'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onLine = (line: string) => {
    output.push(line);
    if (process.env.TEST_LOG_LEVEL) process.stderr.write(`[cdc ${host}] ${line}\n`);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.some((l) => l.includes('cdc bridge started'))) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`cdc exited with ${code}:\n${output.join('\n')}`));
    });
  });
  // The bridge says it started before its HTTP server listens: wait for /health too.
  const healthy = async () => {
    if (child.exitCode !== null) throw new Error(`cdc exited:\n${output.join('\n')}`);
    return fetch(`http://${host}:${port}/health`).then(
      (r) => r.ok,
      () => false,
    );
  };
  await waitFor(healthy, 5000).catch((err: Error) => {
    throw new Error(`cdc did not answer /health (${err.message}):\n${output.join('\n')}`);
  });
  return {
    process: child,
    output,
    http: `http://${host}:${port}`,
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** The seed's company schema: chats, messages (partitioned by month), agents. */
export async function createCompanySchema(db: pg.Client, company: string): Promise<void> {
  const s = `"daisi_${company}"`;
  await db.query(`
    CREATE SCHEMA ${s};
    CREATE TABLE ${s}.chats (chat_id text PRIMARY KEY, agent_id text, title text, unread int DEFAULT 0,
      updated_at timestamptz DEFAULT now());
    CREATE TABLE ${s}.messages (message_id text, chat_id text, agent_id text, body text, meta jsonb,
      tags text[], amount numeric, message_date timestamptz NOT NULL, PRIMARY KEY (message_id, message_date))
      PARTITION BY RANGE (message_date);
    CREATE TABLE ${s}.messages_2026 PARTITION OF ${s}.messages
      FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    CREATE TABLE ${s}.agents (agent_id text PRIMARY KEY, name text, active boolean);
    ALTER TABLE ${s}.chats REPLICA IDENTITY FULL;
    ALTER TABLE ${s}.messages_2026 REPLICA IDENTITY FULL;
    ALTER TABLE ${s}.agents REPLICA IDENTITY FULL;
  `);
}

export interface StoredChange {
  seq: number;
  subject: string;
  event: {
    event_id: string;
    row_data: { action: string; record: Record<string, unknown>; metadata: { commit_lsn: string; table_name: string } };
  } & Record<string, unknown>;
}

/** Everything the stream holds, in order (the crash matrix reads it whole). */
export async function readWholeStream(url: string, stream: string): Promise<StoredChange[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: StoredChange[] = [];
    if (info.state.messages === 0) return out;
    const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    while (out.length < info.state.messages) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        out.push({ seq: m.seq, subject: m.subject, event: m.json() });
        if (m.seq >= info.state.last_seq) break;
      }
      if (got === 0 || out.at(-1)!.seq >= info.state.last_seq) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

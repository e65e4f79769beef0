import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { stringify } from 'yaml';
import { freePortNumber, KEYS, uid } from '../test/helpers/env.js';
import { companyToken, spawnGateway, type ChildGateway } from '../test/helpers/gateway.js';
import type { Published } from '../test/helpers/load.js';
import { TestNatsServer } from '../support/nats-server.js';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { TestRedisServer } from '../support/redis-server.js';
import { MASTER_NAME, TestRedisSentinel } from '../support/redis-sentinel.js';
import { replyFrom } from '../support/ipc.js';
import type { ClientReport, ClientSpec } from './client-host.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pods' settings in every row: pings every second, a slow client is one 2 s behind. */
const POD_ENV = {
  DAISI_WS_APP_PING_INTERVAL_SECONDS: '1',
  DAISI_WS_APP_WEBSOCKET_SLOW_CLIENT_DISCONNECT_THRESHOLD_MS: '2000',
  DAISI_WS_APP_WEBSOCKET_SLOW_CLIENT_LATENCY_MS: '1000',
  DAISI_WS_APP_SHUTDOWN_TIMEOUT_SECONDS: '5',
};

/**
 * What a row runs against, all of the suite's own: a redis-server, a nats-server with JetStream
 * on its own store, and pods as processes on 127.0.0.2… with fixed ports (so a restarted pod is
 * where its clients look for it), reading their config.yaml through a ConfigMap-style symlink.
 */
export class FaultEnv {
  pods: ChildGateway[] = [];
  private configVersion = 0;

  private constructor(
    private readonly deps: Dependencies,
    readonly hosts: string[],
    readonly httpPort: number,
    readonly configDir: string,
    private readonly podEnv: Record<string, string>,
  ) {}

  /**
   * `natsArgs`: more flags of the nats-server (`-c <file>`, `-m <port>`); `clustered`: a three-server
   * JetStream cluster (an R3 stream) and Redis with Sentinel instead of one of each.
   */
  static async start(
    podCount = 3,
    extraEnv: Record<string, string> = {},
    natsArgs: string[] = [],
    clustered = false,
  ): Promise<FaultEnv> {
    const deps: Dependencies = clustered
      ? await Promise.all([TestNatsCluster.start(), TestRedisSentinel.start()]).then(([cluster, sentinel]) => ({
          cluster,
          sentinel,
        }))
      : await Promise.all([TestRedisServer.start(), TestNatsServer.start(natsArgs)]).then(([redis, nats]) => ({
          redis,
          nats,
        }));
    const configDir = mkdtempSync(join(tmpdir(), 'dws-faults-'));
    const hosts = Array.from({ length: podCount }, (_, i) => `127.0.0.${i + 2}`);
    const httpPort = freePortNumber();
    const dependencyEnv: Record<string, string> = deps.sentinel
      ? {
          DAISI_WS_REDIS_SENTINEL_ADDRESSES: deps.sentinel.sentinelAddresses.join(','),
          DAISI_WS_REDIS_SENTINEL_MASTER_NAME: MASTER_NAME,
          DAISI_WS_NATS_URL: deps.cluster!.url,
          DAISI_WS_NATS_STREAM_REPLICAS: '3',
        }
      : { DAISI_WS_REDIS_ADDRESS: deps.redis!.address, DAISI_WS_NATS_URL: deps.nats!.url };
    const env = new FaultEnv(deps, hosts, httpPort, configDir, {
      ...POD_ENV,
      ...dependencyEnv,
      DAISI_WS_NATS_STREAM_NAME: 'wa_stream',
      DAISI_WS_SERVER_HTTP_PORT: String(httpPort),
      DAISI_WS_SERVER_GRPC_PORT: String(freePortNumber()),
      DAISI_WS_CONFIG_PATH: configDir,
      ...extraEnv,
    });
    env.publishConfig({ app: { ping_interval_seconds: 1 } });
    symlinkSync('..data/config.yaml', join(configDir, 'config.yaml'));
    env.pods = await Promise.all(hosts.map((h) => spawnGateway(h, env.podEnv)));
    return env;
  }

  /** The row's nats-server (rows on one server). */
  get nats(): TestNatsServer {
    return this.deps.nats ?? fail('this row runs on a NATS cluster');
  }

  get redis(): TestRedisServer {
    return this.deps.redis ?? fail('this row runs on Redis Sentinel');
  }

  /** The row's three nats-servers (clustered rows). */
  get cluster(): TestNatsCluster {
    return this.deps.cluster ?? fail('this row runs on one nats-server');
  }

  get sentinel(): TestRedisSentinel {
    return this.deps.sentinel ?? fail('this row runs on one redis-server');
  }

  /** Where publishers and bridges connect: the server, or every server of the cluster. */
  get natsUrl(): string {
    return this.deps.cluster?.url ?? this.nats.url;
  }

  get grpcPort(): number {
    return Number(this.podEnv.DAISI_WS_SERVER_GRPC_PORT);
  }

  podUrl(i: number): string {
    return `ws://${this.hosts[i]}:${this.httpPort}`;
  }

  /** A new config.yaml the way the kubelet updates a ConfigMap: a new directory, ..data swapped. */
  publishConfig(doc: object | string): void {
    const name = `..v${++this.configVersion}`;
    mkdirSync(join(this.configDir, name));
    writeFileSync(join(this.configDir, name, 'config.yaml'), typeof doc === 'string' ? doc : stringify(doc));
    symlinkSync(name, join(this.configDir, '..data_tmp'));
    renameSync(join(this.configDir, '..data_tmp'), join(this.configDir, '..data'));
  }

  async startPod(i: number): Promise<void> {
    this.pods[i] = await spawnGateway(this.hosts[i]!, this.podEnv);
  }

  async stop(): Promise<void> {
    for (const pod of this.pods) pod.process.kill('SIGCONT');
    const { redis, nats, cluster, sentinel } = this.deps;
    redis?.signal('SIGCONT');
    nats?.signal('SIGCONT');
    await Promise.all(this.pods.map((p) => p.kill()));
    await redis?.kill();
    await nats?.stop();
    await cluster?.stop();
    await sentinel?.stop();
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

interface Dependencies {
  nats?: TestNatsServer;
  redis?: TestRedisServer;
  cluster?: TestNatsCluster;
  sentinel?: TestRedisSentinel;
}

function fail(message: string): never {
  throw new Error(message);
}

/**
 * The producer: publishes at a steady rate, each event with a Nats-Msg-Id so that a retry after
 * a timeout (NATS down or paused) is stored once; retries until the stream acknowledges.
 */
export class Load {
  private readonly out: Array<Promise<Published>> = [];
  private running = false;
  private loop: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {}

  static async connect(url: string): Promise<Load> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    return new Load(nc, jetstream(nc, { timeout: 2000 }));
  }

  start(subjects: string[], perSecond: number, onAck?: (p: Published) => void, padBytes = 0): void {
    this.running = true;
    const pad = padBytes > 0 ? `,"pad":"${'x'.repeat(padBytes)}"` : '';
    this.loop = (async () => {
      const started = Date.now();
      for (let i = 0; this.running; i++) {
        const wait = started + (i * 1000) / perSecond - Date.now();
        if (wait > 0) await sleep(wait);
        const subject = subjects[i % subjects.length]!;
        const id = `ev-${i}`;
        const sentAt = Date.now();
        const text = `{"event_id":"${id}","sent_at":${sentAt},"company_id":"c","row_data":{"i":${i}}${pad}}`;
        const acked = this.publish(subject, id, text).then((seq) => ({ subject, id, text, seq, sentAt }));
        if (onAck) void acked.then(onAck);
        this.out.push(acked);
      }
    })();
  }

  async stop(): Promise<Published[]> {
    this.running = false;
    await this.loop;
    const published = await Promise.all(this.out);
    await this.nc.close();
    return published;
  }

  private async publish(subject: string, id: string, text: string): Promise<number> {
    for (;;) {
      try {
        return (await this.js.publish(subject, text, { msgID: id })).seq;
      } catch {
        await sleep(200);
      }
    }
  }
}

/** The clients, in a process of their own (faults/client-host.ts). */
export class Clients {
  private constructor(private readonly child: ChildProcess) {}

  /** `silenceMs`: how long a client waits in silence before it takes its connection for lost. */
  static async start(silenceMs?: number): Promise<Clients> {
    const env = { ...process.env, ...(silenceMs ? { FAULTS_CLIENT_SILENCE_MS: String(silenceMs) } : {}) };
    const child = fork(new URL('./client-host.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx'],
      env,
    });
    await replyFrom(child, 'up');
    return new Clients(child);
  }

  private ask<T>(message: object, reply: string): Promise<T> {
    const answer = replyFrom<T>(this.child, reply);
    this.child.send(message);
    return answer;
  }

  open(specs: ClientSpec[]): Promise<unknown> {
    return this.ask({ cmd: 'open', specs }, 'opened');
  }

  stall(id: number, ms: number): Promise<unknown> {
    return this.ask({ cmd: 'stall', id, ms }, 'stalled');
  }

  /** Drops the client's connection (as a network would); it reconnects to its next pod and resumes. */
  hop(id: number): Promise<unknown> {
    return this.ask({ cmd: 'hop', id }, 'hopped');
  }

  async counts(): Promise<Map<number, number>> {
    return new Map((await this.ask<{ counts: Array<[number, number]> }>({ cmd: 'counts' }, 'counts')).counts);
  }

  async report(): Promise<ClientReport[]> {
    return (await this.ask<{ reports: ClientReport[] }>({ cmd: 'report' }, 'report')).reports;
  }

  close(): void {
    this.child.send({ cmd: 'close' });
  }
}

/** A session of the suite: who it is, what it must receive, where it connects. */
export interface Session {
  spec: ClientSpec;
  subjects: string[];
  /** Index of the pod it connects to first. */
  home: number;
}

/**
 * `perPod` sessions on every pod (or all on `onlyPod`): agents a0…a2; every other session also
 * views chat k (chat_id on the upgrade), so each gets its agent's chat list and maybe its chat.
 */
export function sessionsFor(
  env: FaultEnv,
  count: number,
  options: {
    onlyPod?: number;
    via?: (podIndex: number) => string | undefined;
    firstId?: number;
    /** How many agents (a0…) and chats (k, or k0… when more than one) the sessions spread over. */
    agents?: number;
    chats?: number;
  } = {},
): Session[] {
  const agents = options.agents ?? 3;
  const chats = options.chats ?? 1;
  const company = uid('c');
  return Array.from({ length: count }, (_, i) => {
    const id = (options.firstId ?? 0) + i;
    const home = options.onlyPod ?? id % env.hosts.length;
    const agent = `a${id % agents}`;
    const chat = chats === 1 ? 'k' : `k${Math.floor(id / agents) % chats}`;
    const viewsChat = id % 2 === 1;
    const user = `u${id}`;
    const token = companyToken(company, agent, user, 24 * 3600);
    const path = `/ws/${company}/${agent}`;
    const order = env.hosts.map((_, i) => (home + i) % env.hosts.length);
    const pods = order.map((i) => (i === home ? options.via?.(i) : undefined) ?? env.podUrl(i));
    const subjects = [
      `wa.${company}.${agent}.chats`,
      ...(viewsChat ? [`wa.${company}.${agent}.messages.${chat}`] : []),
    ];
    return {
      spec: { id, pods, path, token, apiKey: KEYS.client, chatId: viewsChat ? chat : undefined },
      subjects,
      home,
    };
  });
}

export type { Published };

import { type Clock, systemClock } from '../domain/clock.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import { keys } from '../domain/keys.js';
import { blockKeyOf, blockKeysOf, filterMatches, OPERATOR_POD_ID, targetCovers } from '../domain/operator.js';
import type {
  Block,
  BlockStore,
  DisconnectTarget,
  KillSwitch,
  Logger,
  OperatorBus,
  OperatorRequest,
  PodAnswer,
  PodDirectory,
  SessionFilter,
  SessionInfo,
} from '../domain/ports.js';
import type { Identity } from '../domain/session.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export interface OperatorDeps {
  podId: string;
  registry: SessionRegistry;
  bus: OperatorBus;
  directory: PodDirectory;
  blocks: BlockStore;
  killSwitch: KillSwitch;
  /** Totals so far of the events this pod read and the frames it sent. */
  counts(): { events: number; frames: number };
  log: Logger;
  now?: Clock;
}

/** How long the fleet has to answer (docs/protocol.md, *Operator API*). */
export const ANSWER_WITHIN_MS = 1000;
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;
/** How often a pod says it is alive, and reads the blocks again. */
const ANNOUNCE_EVERY_MS = 5000;
/** A pod silent for longer is not waited for (it was stopped or killed). */
const ALIVE_WITHIN_MS = 15_000;

export interface PodStatus {
  pod_id: string;
  sessions: number;
  answered: boolean;
  events_per_second?: number;
  frames_per_second?: number;
}

export interface Listing {
  sessions: SessionInfo[];
  pods: PodStatus[];
  complete: boolean;
  truncated: boolean;
}

export interface Disconnection {
  disconnected: number;
  pods: PodStatus[];
  complete: boolean;
}

/**
 * The operator's view of the fleet and its hand on it (docs/protocol.md, *Operator API*): every
 * daisi-ws pod answers for its own sessions over the operator bus, so a listing is what the pods hold
 * now (Redis knows who holds a lock, not when they connected or what chat they view) and costs the
 * event path nothing. Blocks live in the shared BlockStore, so they hold on every pod and across
 * restarts; each pod keeps them in memory, so that an upgrade checks them without a round trip.
 */
export class OperatorService {
  private blocks = new Map<string, Block>();
  private timer: NodeJS.Timeout | undefined;
  private sample = { at: 0, events: 0, frames: 0, eventsPerSecond: 0, framesPerSecond: 0 };
  private readonly now: Clock;

  constructor(private readonly deps: OperatorDeps) {
    this.now = deps.now ?? systemClock;
  }

  async start(): Promise<void> {
    this.deps.bus.serve((request) => this.answer(request));
    await this.tick();
    this.timer = setInterval(() => void this.tick(), ANNOUNCE_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.deps.directory.leave(this.deps.podId).catch(() => undefined);
    await this.deps.bus.close();
  }

  /** The operator's block on an identity that lasts longest, if one is in force. */
  blockOf(identity: Identity): Block | undefined {
    const now = this.now();
    let longest: Block | undefined;
    for (const key of blockKeysOf(identity)) {
      const block = this.blocks.get(key);
      if (block && block.untilMs > now && block.untilMs > (longest?.untilMs ?? 0)) longest = block;
    }
    return longest;
  }

  async sessions(filter: SessionFilter, limit: number): Promise<Listing> {
    const { answers, pods, complete } = await this.askAll({ kind: 'sessions', filter, limit });
    const sessions = answers.flatMap((a) => a.sessions).sort((a, b) => b.connected_at.localeCompare(a.connected_at));
    const matching = answers.reduce((n, a) => n + a.matching, 0);
    return { sessions: sessions.slice(0, limit), pods, complete, truncated: matching > limit };
  }

  async disconnect(target: DisconnectTarget, reason: string, blockSeconds: number): Promise<Disconnection> {
    const blockUntilMs = blockSeconds > 0 ? this.now() + blockSeconds * 1000 : 0;
    if (blockUntilMs > 0) {
      const block = { untilMs: blockUntilMs, reason };
      this.blocks.set(blockKeyOf(target), block);
      await this.deps.blocks.put(blockKeyOf(target), block);
    }
    const { answers, pods, complete } = await this.askAll({ kind: 'disconnect', target, reason, blockUntilMs });
    await this.tellGoReplicas(target);
    return { disconnected: answers.reduce((n, a) => n + a.disconnected, 0), pods, complete };
  }

  /** This pod's part of a request. */
  answer(request: OperatorRequest): PodAnswer {
    const answer: PodAnswer = {
      podId: this.deps.podId,
      sessions: [],
      matching: 0,
      total: 0,
      disconnected: 0,
      ...this.rates(),
    };
    // The registry holds sessions in the order they connected: the newest `limit` are the last ones.
    const matching: Session[] = [];
    for (const session of this.deps.registry.all()) {
      answer.total++;
      if (request.kind === 'sessions') {
        if (!filterMatches(request.filter, session.identity)) continue;
        answer.matching++;
        matching.push(session);
      } else if (targetCovers(request.target, session.identity)) {
        session.terminate(new GatewayError(ErrorCodes.Disconnected, request.reason || 'Disconnected by an operator'));
        answer.disconnected++;
      }
    }
    if (request.kind === 'sessions') answer.sessions = matching.slice(-request.limit).map((s) => this.infoOf(s));
    if (request.kind === 'disconnect') {
      if (request.blockUntilMs > 0)
        this.blocks.set(blockKeyOf(request.target), { untilMs: request.blockUntilMs, reason: request.reason });
      const { target, reason, blockUntilMs } = request;
      this.deps.log.info(
        { target, reason, block_until: blockUntilMs || undefined, disconnected: answer.disconnected },
        'operator disconnect',
      );
    }
    return answer;
  }

  private async askAll(
    request: OperatorRequest,
  ): Promise<{ answers: PodAnswer[]; pods: PodStatus[]; complete: boolean }> {
    const expected = await this.expectedPods();
    const answers = await this.deps.bus.ask(request, ANSWER_WITHIN_MS, expected);
    const answered = new Map(answers.map((a) => [a.podId, a]));
    const pods: PodStatus[] = [...new Set([...expected, ...answered.keys()])].sort().map((pod) => {
      const a = answered.get(pod);
      if (!a) return { pod_id: pod, sessions: 0, answered: false };
      return {
        pod_id: pod,
        sessions: a.total,
        answered: true,
        events_per_second: a.eventsPerSecond,
        frames_per_second: a.framesPerSecond,
      };
    });
    return { answers, pods, complete: pods.every((p) => p.answered) };
  }

  private async expectedPods(): Promise<Set<string>> {
    const alive = await this.deps.directory.alive(this.now() - ALIVE_WITHIN_MS).catch((err) => {
      this.deps.log.warn({ err }, 'pod directory unreadable; listing the pods that answer');
      return [] as string[];
    });
    return new Set([...alive, this.deps.podId]);
  }

  /** A Go replica knows no operator: the kill switch, with an id no pod has, closes its session of that user. */
  private async tellGoReplicas(target: DisconnectTarget): Promise<void> {
    const channel =
      target.kind === 'admin'
        ? keys.adminKillChannel(target.adminId)
        : target.agentId !== undefined && target.userId !== undefined
          ? keys.killChannel(target.companyId, target.agentId, target.userId)
          : undefined;
    if (!channel) return; // the kill switch names one user: a company or agent has no channel
    await this.deps.killSwitch.publish(channel, { new_pod_id: OPERATOR_POD_ID }).catch((err) => {
      this.deps.log.warn({ err, channel }, 'kill message for Go replicas not published');
    });
  }

  private async tick(): Promise<void> {
    const now = this.now();
    try {
      await this.deps.directory.announce(this.deps.podId, now);
      const stored = await this.deps.blocks.inForce(now);
      for (const [key, block] of this.blocks) if (block.untilMs > now && !stored.has(key)) stored.set(key, block);
      this.blocks = stored;
    } catch (err) {
      this.deps.log.warn({ err }, 'pod announcement or block read failed');
    }
  }

  /** Events read and frames sent per second, since the previous question (at least a second back). */
  private rates(): { eventsPerSecond: number; framesPerSecond: number } {
    const now = this.now();
    const { events, frames } = this.deps.counts();
    const s = this.sample;
    if (now - s.at >= 1000) {
      const seconds = s.at === 0 ? 0 : (now - s.at) / 1000;
      s.eventsPerSecond = seconds > 0 ? Math.round((events - s.events) / seconds) : 0;
      s.framesPerSecond = seconds > 0 ? Math.round((frames - s.frames) / seconds) : 0;
      Object.assign(s, { at: now, events, frames });
    }
    return { eventsPerSecond: s.eventsPerSecond, framesPerSecond: s.framesPerSecond };
  }

  private infoOf(session: Session): SessionInfo {
    const id = session.identity;
    const common = { pod_id: this.deps.podId, connected_at: new Date(session.connectedAt).toISOString() };
    if (id.kind === 'admin') return { type: 'admin', admin_id: id.adminId, ...common };
    const info: SessionInfo = {
      type: 'company',
      company_id: id.companyId,
      agent_id: id.agentId,
      user_id: id.userId,
      ...common,
    };
    if (session.chatId) info.chat_id = session.chatId;
    return info;
  }
}

import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { OperatorBus, OperatorRequest, PodAnswer } from '../../domain/ports.js';
import { natsFailure } from './failure.js';

/** The subject every daisi-ws pod answers the operator API on (plain NATS, not the stream). */
const SUBJECT = 'dws.operator.v1';
/** Sessions per answer message: 10,000 at ~200 bytes would pass NATS's 1 MB message size. */
const SESSIONS_PER_MESSAGE = 1000;

interface AnswerPart extends PodAnswer {
  part: number;
  parts: number;
}

/**
 * The operator's requests as a scatter-gather over NATS: published once on SUBJECT with a reply
 * inbox, answered by every pod (its sessions in parts of SESSIONS_PER_MESSAGE), gathered until every
 * expected pod answered whole or the time is up. It uses the pod's client connection, not the
 * reader's, and costs the event path nothing.
 */
export class NatsOperatorBus implements OperatorBus {
  private nc: NatsConnection | undefined;
  private sub: Subscription | undefined;
  private answer: ((request: OperatorRequest) => PodAnswer) | undefined;

  /** A (new) connection: the pod answers on it from now on. */
  attach(nc: NatsConnection): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.nc = nc;
    this.subscribe();
  }

  serve(answer: (request: OperatorRequest) => PodAnswer): void {
    this.answer = answer;
    this.subscribe();
  }

  ask(request: OperatorRequest, timeoutMs: number, expected: ReadonlySet<string>): Promise<PodAnswer[]> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return Promise.reject(natsFailure('asking the pods', new Error('not connected to NATS')));
    const inbox = createInbox();
    const gathered = new Map<string, { answer: PodAnswer; got: number; parts: number }>();
    return new Promise((resolve) => {
      const whole = () => [...gathered.values()].filter(isWhole).map((g) => g!.answer);
      const finish = () => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(whole());
      };
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err) return;
          const part = parsed<AnswerPart>(msg.data);
          if (!part) return;
          const g = gathered.get(part.podId);
          if (g) {
            g.answer.sessions.push(...part.sessions);
            g.got++;
          } else
            gathered.set(part.podId, { answer: { ...part, sessions: [...part.sessions] }, got: 1, parts: part.parts });
          if ([...expected].every((pod) => isWhole(gathered.get(pod)))) finish();
        },
      });
      const timer = setTimeout(finish, timeoutMs);
      nc.publish(SUBJECT, JSON.stringify(request), { reply: inbox });
    });
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.answer = undefined;
  }

  private subscribe(): void {
    const nc = this.nc;
    if (!nc || !this.answer || this.sub) return;
    this.sub = nc.subscribe(SUBJECT, {
      callback: (err, msg) => {
        const reply = msg?.reply;
        const request = err || !reply ? undefined : parsed<OperatorRequest>(msg.data);
        if (!request || !reply || !this.answer) return;
        const answer = this.answer(request);
        const parts = Math.max(1, Math.ceil(answer.sessions.length / SESSIONS_PER_MESSAGE));
        for (let part = 0; part < parts; part++) {
          const sessions = answer.sessions.slice(part * SESSIONS_PER_MESSAGE, (part + 1) * SESSIONS_PER_MESSAGE);
          nc.publish(reply, JSON.stringify({ ...answer, sessions, part, parts }));
        }
      },
    });
  }
}

/** A pod's answer with all its parts. */
function isWhole(g: { got: number; parts: number } | undefined): boolean {
  return g !== undefined && g.got === g.parts;
}

function parsed<T>(data: Uint8Array): T | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as T;
  } catch {
    return undefined;
  }
}

import { parseSubject, subjects } from '../domain/events.js';
import { adminWants, interestOf } from '../domain/session.js';
import type { Session } from './session.js';

const agentKey = subjects.chats;
const chatKey = subjects.messages;

/**
 * The in-process index of this pod's live sessions: by session key, and by the subject they
 * receive (`wa.<c>.<a>.chats` for every session of an agent, `wa.<c>.<a>.messages.<chat>` for
 * the viewers of a chat), so that the pod's filter over the whole stream is one map lookup on
 * the event's subject, with no parse and no allocation, and fan-out is the sends.
 *
 * It also tells the pod's reading what its sessions want (`interest`): every registered session's
 * subjects, counted per session, so that with interest reading the pod subscribes to them.
 */
export class SessionRegistry {
  private interest: Interest = NO_INTEREST;
  private readonly byKey = new Map<string, Session>();
  private readonly byAgent = new Map<string, Set<Session>>();
  private readonly byChat = new Map<string, Set<Session>>();
  private readonly admins = new Set<Session>();

  get size(): number {
    return this.byKey.size;
  }

  /** Where the sessions' subjects are wanted (the event stream), from now on. */
  tellInterest(interest: Interest): void {
    this.interest = interest;
  }

  get(key: string): Session | undefined {
    return this.byKey.get(key);
  }

  all(): IterableIterator<Session> {
    return this.byKey.values();
  }

  /**
   * Adds a session (and its chat, if it has one); returns the one it replaced (same key), which the caller must close.
   */
  add(session: Session): Session | undefined {
    const previous = this.byKey.get(session.key);
    if (previous) this.remove(previous);
    this.byKey.set(session.key, session);
    for (const pattern of interestOf(session.identity, session.chatId)) this.interest.want(pattern);
    const id = session.identity;
    if (id.kind === 'admin') this.admins.add(session);
    else {
      addTo(this.byAgent, agentKey(id.companyId, id.agentId), session);
      if (session.chatId) addTo(this.byChat, chatKey(id.companyId, id.agentId, session.chatId), session);
    }
    return previous;
  }

  /** Removes the session if it is the registered one; false for a replaced session. */
  remove(session: Session): boolean {
    if (this.byKey.get(session.key) !== session) return false;
    this.byKey.delete(session.key);
    for (const pattern of interestOf(session.identity, session.chatId)) this.interest.unwant(pattern);
    const id = session.identity;
    if (id.kind === 'admin') {
      this.admins.delete(session);
      return true;
    }
    removeFrom(this.byAgent, agentKey(id.companyId, id.agentId), session);
    if (session.chatId) removeFrom(this.byChat, chatKey(id.companyId, id.agentId, session.chatId), session);
    return true;
  }

  /** Moves a registered user session to another chat's viewers. */
  setChat(session: Session, chatId: string): void {
    const id = session.identity;
    if (id.kind !== 'user') return;
    const registered = this.byKey.get(session.key) === session;
    if (session.chatId) {
      removeFrom(this.byChat, chatKey(id.companyId, id.agentId, session.chatId), session);
      if (registered) this.interest.unwant(chatKey(id.companyId, id.agentId, session.chatId));
    }
    session.chatId = chatId;
    if (!registered) return;
    addTo(this.byChat, chatKey(id.companyId, id.agentId, chatId), session);
    this.interest.want(chatKey(id.companyId, id.agentId, chatId));
  }

  agentSessions(company: string, agent: string): ReadonlySet<Session> {
    return this.byAgent.get(agentKey(company, agent)) ?? EMPTY;
  }

  chatSessions(company: string, agent: string, chat: string): ReadonlySet<Session> {
    return this.byChat.get(chatKey(company, agent, chat)) ?? EMPTY;
  }

  /** The sessions an event of `subject` goes to on this pod; undefined when none. */
  forSubject(subject: string): ReadonlySet<Session> | Session[] | undefined {
    const found = this.byAgent.get(subject) ?? this.byChat.get(subject);
    if (found !== undefined || this.admins.size === 0) return found;
    const address = parseSubject(subject);
    if (address?.kind !== 'agents') return undefined;
    const admins = [...this.admins].filter((s) => s.identity.kind === 'admin' && adminWants(s.identity, address));
    return admins.length > 0 ? admins : undefined;
  }

  /** Company/agent pairs with at least one local session (live: read while sessions come and go). */
  *agents(): IterableIterator<{ companyId: string; agentId: string; sessions: ReadonlySet<Session> }> {
    for (const sessions of this.byAgent.values()) {
      const first = sessions.values().next().value as Session & { identity: { kind: 'user' } };
      yield { companyId: first.identity.companyId, agentId: first.identity.agentId, sessions };
    }
  }

  /** Chats with at least one local viewer (live, like agents()). */
  *chats(): IterableIterator<{ companyId: string; agentId: string; chatId: string; sessions: ReadonlySet<Session> }> {
    for (const sessions of this.byChat.values()) {
      const first = sessions.values().next().value as Session & { identity: { kind: 'user' } };
      yield { companyId: first.identity.companyId, agentId: first.identity.agentId, chatId: first.chatId!, sessions };
    }
  }
}

const EMPTY: ReadonlySet<Session> = new Set();

/** What the pod's sessions want read: each want() is matched by one unwant(). */
export interface Interest {
  want(pattern: string): void;
  unwant(pattern: string): void;
}

const NO_INTEREST: Interest = { want: () => undefined, unwant: () => undefined };

function addTo(index: Map<string, Set<Session>>, key: string, session: Session): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(session);
}

function removeFrom(index: Map<string, Set<Session>>, key: string, session: Session): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(session);
  if (set.size === 0) index.delete(key);
}

/**
 * What the services report, as hooks: they say what happened and know nothing of Prometheus
 * (platform/metrics.ts turns each hook into the Go service's counters and histograms). The hot path's
 * hooks are plain counters bound to their labels beforehand, so that reporting costs one call.
 */
export interface Count {
  inc(by?: number): void;
}

export interface DeliveryHooks {
  /** A frame sent to a session. */
  sent: Count;
  /** An event read off the stream, by kind of subject. */
  received: { chats: Count; messages: Count; agents: Count; other: Count };
  /** An event someone wanted that is not a JSON object. */
  invalid: Count;
}

export type UserType = 'user' | 'admin';

export interface SessionHooks {
  lockAttempt(userType: UserType, lockType: string): void;
  lockAcquired(userType: UserType, lockType: string): void;
  lockFailed(userType: UserType, reason: string): void;
  /** A session closed because another connection of the same user took over. */
  conflict(userType: UserType): void;
}

export interface RenewalHooks extends Pick<SessionHooks, 'conflict'> {
  ttlDecided(keyType: string, decision: string, ttlSeconds: number, ageSeconds: number | undefined): void;
  lockRenewal(userType: UserType, outcome: 'attempt' | 'success'): void;
  lockRenewalFailed(userType: UserType, reason: string): void;
}

/** Token checks of upgrades and refreshes (dws_auth_success_total, dws_auth_failure_total). */
export interface AuthHooks {
  authSucceeded(tokenType: 'company' | 'admin'): void;
  authFailed(tokenType: 'company' | 'admin', reason: string): void;
}

export interface ResumeHooks {
  resumed(source: 'memory' | 'stream' | 'unavailable'): void;
}

/** The CDC bridge's counts (dws_cdc_*). */
export interface CdcHooks {
  change(table: string, action: string): void;
  skipped(table: string, reason: string): void;
  active(on: boolean): void;
  lag(bytes: number): void;
  commitToAck(seconds: number): void;
}

/**
 * Adaptive TTLs (docs/protocol.md, *Redis*): a key whose last activity is recent enough gets the active TTL,
 * otherwise the inactive one, clamped to [min, max]. Disabled rules use the default TTL.
 */
export interface AdaptiveTtlRules {
  enabled: boolean;
  min_ttl_seconds: number;
  max_ttl_seconds: number;
  activity_threshold_seconds: number;
  active_ttl_seconds: number;
  inactive_ttl_seconds: number;
}

export type TtlDecisionKind = 'disabled_config' | 'active' | 'inactive_threshold' | 'inactive_no_key';

export interface TtlDecision {
  ttlSeconds: number;
  decision: TtlDecisionKind;
  /** Seconds since the last activity, when there was any. */
  ageSeconds?: number;
}

export function decideTtl(
  rules: AdaptiveTtlRules,
  defaultTtlSeconds: number,
  lastActiveMs: number | undefined,
  nowMs: number,
): TtlDecision {
  if (!rules.enabled) return { ttlSeconds: defaultTtlSeconds, decision: 'disabled_config' };
  if (lastActiveMs === undefined) {
    return { ttlSeconds: clamp(rules.inactive_ttl_seconds, rules), decision: 'inactive_no_key' };
  }
  const ageSeconds = Math.max(0, (nowMs - lastActiveMs) / 1000);
  const active = ageSeconds <= rules.activity_threshold_seconds;
  return {
    ttlSeconds: clamp(active ? rules.active_ttl_seconds : rules.inactive_ttl_seconds, rules),
    decision: active ? 'active' : 'inactive_threshold',
    ageSeconds,
  };
}

function clamp(ttl: number, rules: AdaptiveTtlRules): number {
  return Math.min(Math.max(ttl, rules.min_ttl_seconds), rules.max_ttl_seconds);
}

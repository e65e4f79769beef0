import assert from 'node:assert/strict';
import { subjectMatches } from '../../src/domain/events.js';
import { blockKeyOf, blockKeysOf, filterMatches, targetCovers } from '../../src/domain/operator.js';
import { describe, it } from 'node:test';
import { decideTtl } from '../../src/domain/adaptive-ttl.js';
import { ErrorCodes, GatewayError, grpcStatusOf, httpStatusOf, wsCloseCodeOf } from '../../src/domain/errors.js';
import { parseEventPayload, parseSubject, subjectOf } from '../../src/domain/events.js';
import { eventFrame } from '../../src/domain/frames.js';
import { idProblem } from '../../src/domain/ids.js';
import { originAllowed } from '../../src/domain/origins.js';
import { keys, sessionKeyOfKillChannel } from '../../src/domain/keys.js';
import { formatRfc3339, parseRfc3339, GO_ZERO_TIME_MS } from '../../src/domain/rfc3339.js';
import { adminWants, type AdminIdentity } from '../../src/domain/session.js';
import { decodeTokenBytes } from '../../src/domain/token-crypto.js';
import type { TokenError } from '../../src/domain/errors.js';

describe('error codes', () => {
  it('map to the HTTP status and WebSocket close code of docs/protocol.md, *HTTP*', () => {
    const table: Array<[string, number, number]> = [
      ['InvalidAPIKey', 401, 4401],
      ['InvalidToken', 403, 4403],
      ['E4001', 401, 4403],
      ['E4003', 403, 4403],
      ['SessionConflict', 409, 4402],
      ['RateLimitExceeded', 429, 4429],
      ['BadRequest', 400, 4400],
      ['E4005', 405, 4400],
      ['InternalServerError', 500, 1011],
      ['SubscriptionFailure', 500, 1011],
    ];
    for (const [code, http, ws] of table) {
      assert.equal(httpStatusOf(code as never), http, code);
      assert.equal(wsCloseCodeOf(code as never), ws, code);
    }
    assert.equal(grpcStatusOf(ErrorCodes.BadRequest), 3);
  });

  it('serialise to {code, message, details?}', () => {
    assert.deepEqual(new GatewayError(ErrorCodes.BadRequest, 'Nope').toBody(), { code: 'BadRequest', message: 'Nope' });
    assert.deepEqual(new GatewayError(ErrorCodes.BadRequest, 'Nope', 'why').toBody(), {
      code: 'BadRequest',
      message: 'Nope',
      details: 'why',
    });
  });
});

describe('ids (docs/compat.md #6)', () => {
  it('accepts ordinary ids and refuses separators, wildcards, whitespace and control characters', () => {
    for (const ok of ['agent-001', '7f1d2c3b-0a4e', 'ユーザー', 'a_b@c']) assert.equal(idProblem(ok), undefined, ok);
    for (const bad of ['', 'a.b', '*', '>', 'a:b', 'a b', 'a\tb', 'a\u0000', 'x'.repeat(257), 5])
      assert.ok(idProblem(bad), String(bad));
    assert.equal(idProblem('é'.repeat(128)), undefined);
    assert.ok(idProblem('é'.repeat(129)));
  });
});

describe('keys and subjects', () => {
  it('are byte-identical to the Go service', () => {
    assert.equal(keys.session('c', 'a', 'u'), 'session:c:a:u');
    assert.equal(keys.adminSession('x'), 'session:admin:x');
    assert.equal(keys.messagesRoute('c', 'a', 'k'), 'route:c:a:messages:k');
    assert.equal(keys.chatsRoute('c', 'a'), 'route:c:a:chats');
    assert.equal(keys.lastActive('route:c:a:chats'), 'route:c:a:chats:last_active');
    assert.equal(sessionKeyOfKillChannel('session_kill:c:a:u'), 'session:c:a:u');
    assert.equal(sessionKeyOfKillChannel('session_kill:admin:x'), 'session:admin:x');
    assert.equal(sessionKeyOfKillChannel('session_kill:c:a'), undefined);
  });

  it('parse every subject kind and nothing else', () => {
    assert.deepEqual(parseSubject('wa.c.a.chats'), { kind: 'chats', companyId: 'c', agentId: 'a' });
    assert.deepEqual(parseSubject('wa.c.a.messages.k'), {
      kind: 'messages',
      companyId: 'c',
      agentId: 'a',
      chatId: 'k',
    });
    assert.deepEqual(parseSubject('wa.c.a.agents'), { kind: 'agents', companyId: 'c', agentId: 'a' });
    for (const bad of ['wa.c.a', 'wa.c.a.messages', 'wa..a.chats', 'x.c.a.chats', 'wa.c.a.other', 'wa.c.a.chats.x']) {
      assert.equal(parseSubject(bad), undefined, bad);
    }
    assert.equal(subjectOf({ kind: 'messages', companyId: 'c', agentId: 'a', chatId: 'k' }), 'wa.c.a.messages.k');
  });

  it('pass the payload through unchanged in the event frame', () => {
    const payload = '{"event_id":"e1","row_data":{"n":12345678901234567890},"extra":true}';
    assert.equal(eventFrame(payload).toString(), `{"type":"event","payload":${payload}}`);
    assert.equal(parseEventPayload('[1]'), undefined);
    assert.equal(parseEventPayload('nope'), undefined);
    assert.equal(parseEventPayload('null'), undefined);
  });

  it('refuse a payload whose bytes are not UTF-8 (its frame would make a browser close the connection)', () => {
    const wrap = (...bytes: number[]) => Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
    for (const bytes of [[0x80], [0xc0, 0x80], [0xc3], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xff]]) {
      assert.equal(parseEventPayload(wrap(...bytes)), undefined, Buffer.from(bytes).toString('hex'));
    }
    assert.deepEqual(parseEventPayload(wrap(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)), { a: 'é€😀' });
  });
});

describe('RFC 3339', () => {
  it('keeps nanoseconds, offsets and the zero time', () => {
    const t = parseRfc3339('2099-12-31T23:59:59.123456789+07:00')!;
    assert.equal(t.ms, Date.UTC(2099, 11, 31, 16, 59, 59, 123));
    assert.equal(t.subMsNanos, 456789);
    assert.equal(parseRfc3339('0001-01-01T00:00:00Z')!.ms, GO_ZERO_TIME_MS);
    assert.equal(parseRfc3339('2020-02-30T00:00:00Z'), undefined);
    assert.equal(parseRfc3339('2020-01-01 00:00:00Z'), undefined);
    assert.equal(formatRfc3339(Date.UTC(2030, 0, 1, 0, 0, 0, 120)), '2030-01-01T00:00:00.12Z');
    assert.equal(formatRfc3339(Date.UTC(2030, 0, 1)), '2030-01-01T00:00:00Z');
  });
});

describe('adaptive TTL', () => {
  const rules = {
    enabled: true,
    min_ttl_seconds: 300,
    max_ttl_seconds: 900,
    activity_threshold_seconds: 600,
    active_ttl_seconds: 1000,
    inactive_ttl_seconds: 100,
  };
  it('chooses active or inactive and clamps', () => {
    const now = 1_000_000;
    assert.deepEqual(decideTtl(rules, 60, now - 10_000, now), { ttlSeconds: 900, decision: 'active', ageSeconds: 10 });
    assert.deepEqual(decideTtl(rules, 60, now - 700_000, now), {
      ttlSeconds: 300,
      decision: 'inactive_threshold',
      ageSeconds: 700,
    });
    assert.deepEqual(decideTtl(rules, 60, undefined, now), { ttlSeconds: 300, decision: 'inactive_no_key' });
    assert.deepEqual(decideTtl({ ...rules, enabled: false }, 60, now, now), {
      ttlSeconds: 60,
      decision: 'disabled_config',
    });
  });
});

describe('admin scope (docs/compat.md #8)', () => {
  const admin = (over: Partial<AdminIdentity>): AdminIdentity => ({
    kind: 'admin',
    adminId: 'x',
    companyIdRestriction: '',
    subscribedCompanyId: '',
    subscribedAgentId: '',
    ...over,
  });
  const ev = (companyId: string, agentId: string) => ({ kind: 'agents' as const, companyId, agentId });
  it('applies patterns and never leaves the restriction', () => {
    assert.equal(adminWants(admin({}), ev('c1', 'a1')), true);
    assert.equal(adminWants(admin({ subscribedCompanyId: 'c1' }), ev('c2', 'a1')), false);
    assert.equal(adminWants(admin({ subscribedAgentId: 'a1' }), ev('c2', 'a1')), true);
    assert.equal(adminWants(admin({ companyIdRestriction: 'c1' }), ev('c2', 'a1')), false);
    assert.equal(adminWants(admin({ companyIdRestriction: 'c1', subscribedAgentId: 'a2' }), ev('c1', 'a2')), true);
  });
});

describe('operator rules', () => {
  const user = { kind: 'user', companyId: 'c', agentId: 'a', userId: 'u' } as const;
  const admin = {
    kind: 'admin',
    adminId: 'ops',
    companyIdRestriction: '',
    subscribedCompanyId: '',
    subscribedAgentId: '',
  } as const;

  it('a target covers its company, agent or user, or its admin, and nothing else', () => {
    assert.equal(targetCovers({ kind: 'company', companyId: 'c' }, user), true);
    assert.equal(targetCovers({ kind: 'company', companyId: 'c', agentId: 'a' }, user), true);
    assert.equal(targetCovers({ kind: 'company', companyId: 'c', agentId: 'a', userId: 'v' }, user), false);
    assert.equal(targetCovers({ kind: 'company', companyId: 'd' }, user), false);
    assert.equal(targetCovers({ kind: 'admin', adminId: 'ops' }, admin), true);
    assert.equal(targetCovers({ kind: 'admin', adminId: 'ops' }, user), false);
    assert.equal(targetCovers({ kind: 'company', companyId: 'c' }, admin), false);
  });

  it('a block on a company, agent or user holds for every session under it', () => {
    const keys = blockKeysOf(user);
    for (const target of [
      { kind: 'company', companyId: 'c' },
      { kind: 'company', companyId: 'c', agentId: 'a' },
      { kind: 'company', companyId: 'c', agentId: 'a', userId: 'u' },
    ] as const) {
      assert.ok(keys.includes(blockKeyOf(target)), JSON.stringify(target));
    }
    assert.ok(!keys.includes(blockKeyOf({ kind: 'company', companyId: 'c', agentId: 'b' })));
    assert.deepEqual(blockKeysOf(admin), [blockKeyOf({ kind: 'admin', adminId: 'ops' })]);
  });

  it('a listing filter matches by company, agent, user or admin', () => {
    assert.equal(filterMatches({}, user), true);
    assert.equal(filterMatches({ companyId: 'c', userId: 'u' }, user), true);
    assert.equal(filterMatches({ agentId: 'x' }, user), false);
    assert.equal(filterMatches({ adminId: 'ops' }, admin), true);
    assert.equal(filterMatches({ companyId: 'c' }, admin), false);
    assert.equal(filterMatches({ adminId: 'ops' }, user), false);
  });
});

describe('subject patterns', () => {
  it('match as NATS matches them', () => {
    assert.equal(subjectMatches('wa.c.a.chats', 'wa.c.a.chats'), true);
    assert.equal(subjectMatches('wa.*.*.agents', 'wa.c.a.agents'), true);
    assert.equal(subjectMatches('wa.c.*.agents', 'wa.d.a.agents'), false);
    assert.equal(subjectMatches('wa.c.a.>', 'wa.c.a.messages.k'), true);
    assert.equal(subjectMatches('wa.c.a.>', 'wa.c.a'), false);
    assert.equal(subjectMatches('wa.*.*.agents', 'wa.c.a.chats'), false);
    assert.equal(subjectMatches('wa.*', 'wa.c.a'), false);
  });
});

describe('token format', () => {
  // The grammar the check implements, as a regular expression: padded URL-safe base64 once '\r' and
  // '\n' are left out (Go's decoder skips them anywhere, and nothing else).
  const GRAMMAR = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;
  const formatOk = (token: string) => {
    try {
      decodeTokenBytes(token);
      return true;
    } catch (err) {
      assert.equal((err as TokenError).kind, 'invalid_token_format');
      return false;
    }
  };

  it('accepts exactly what the grammar accepts, over many random strings of its alphabet and a few others', () => {
    const alphabet = 'Aa9_-=\r\n+/. ';
    let seed = 7;
    const random = () => {
      // mulberry32: a small generator, the same strings every run
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(random() * 14);
      let s = '';
      for (let j = 0; j < length; j++) s += alphabet[Math.floor(random() * (random() < 0.8 ? 6 : alphabet.length))];
      const expected = GRAMMAR.test(s.replace(/[\r\n]/g, ''));
      assert.equal(formatOk(s), expected, JSON.stringify(s));
      if (expected) accepted++;
    }
    assert.ok(accepted > 1000, `only ${accepted} accepted strings drawn`);
  });

  it("decodes across the '\\r' and '\\n' it skips", () => {
    assert.equal(decodeTokenBytes('YW\r\nJj').toString(), 'abc');
    assert.equal(decodeTokenBytes('YQ\n==').toString(), 'a');
  });
});

describe('allowed origins (server.allowed_origins)', () => {
  it('matches exact origins and subdomain patterns, scheme included where given', () => {
    const entries = ['https://crm.example.com', '*.partner.example', 'https://*.secure.example'];
    const allowed = (origin: string) => originAllowed(origin, entries);
    assert.ok(allowed('https://crm.example.com'));
    assert.ok(allowed('https://CRM.example.com'));
    assert.ok(!allowed('http://crm.example.com'), 'another scheme is another origin');
    assert.ok(!allowed('https://crm.example.com:8443'), 'another port is another origin');
    assert.ok(allowed('http://a.partner.example') && allowed('https://a.b.partner.example:9000'));
    assert.ok(!allowed('https://partner.example'), 'the pattern is for subdomains');
    assert.ok(!allowed('https://evilpartner.example') && !allowed('https://partner.example.evil'));
    assert.ok(allowed('https://x.secure.example') && !allowed('http://x.secure.example'));
    assert.ok(!allowed('null') && !originAllowed('https://crm.example.com', []));
  });
});

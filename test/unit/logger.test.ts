import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/platform/logger.js';

describe('logger', () => {
  it('logs errors whole (type, message, stack, cause) and never the secrets around them', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write: (chunk, _enc, done) => {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('info', { service: 'test', version: '1' }, sink as never);
    const failed = Object.assign(new Error('NOAUTH', { cause: new Error('the cause') }), {
      command: { name: 'auth', args: ['redis-password'] },
    });
    log.warn({ err: failed, token: 'a-token', config: { auth: { secret_token: 'api-key' } } }, 'something failed');
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(lines[0]!);
    assert.equal(line.err.message, 'NOAUTH: the cause'); // pino appends the causes
    assert.match(line.err.stack, /Error: NOAUTH/);
    assert.equal(line.version, '1');
    for (const secret of ['redis-password', 'a-token', 'api-key'])
      assert.ok(!lines[0]!.includes(secret), `${secret} is not logged`);
  });
});

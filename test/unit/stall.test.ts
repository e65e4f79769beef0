import assert from 'node:assert/strict';
import { stat } from 'node:fs';
import { describe, it } from 'node:test';
import { probeWithin } from '../../src/adapters/nats/stall.js';

describe('probeWithin: a server that holds the connection and answers nothing', () => {
  it('answered, stalled or failed', async () => {
    assert.equal(await probeWithin(Promise.resolve(), 50), 'answered');
    assert.equal(await probeWithin(new Promise(() => undefined), 50), 'stalled');
    assert.equal(await probeWithin(Promise.reject(new Error('closed')), 50), 'failed');
  });

  it('a PONG that came while the event loop was blocked past the deadline counts as an answer', async () => {
    let answer!: () => void;
    const pong = new Promise<void>((resolve) => (answer = resolve));
    // I/O work blocks the loop past the probe's deadline; meanwhile the answer, I/O too, completes. The
    // next turn of the loop runs the overdue timer before it polls for I/O: that order must not be taken
    // for a stall.
    const here = new URL(import.meta.url).pathname;
    stat(here, () => {
      stat(here, () => answer());
      const blockedUntil = Date.now() + 60;
      while (Date.now() < blockedUntil); // a busy event loop
    });
    assert.equal(await probeWithin(pong, 20), 'answered');
  });
});

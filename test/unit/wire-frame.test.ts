import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { wireFrameOf } from '../../src/transports/ws/wire-frame.js';

// ws's own parser and framer, which its type definitions do not declare.
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, binary: boolean) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  write(chunk: Buffer, done: () => void): void;
}
const { Receiver, Sender } = createRequire(import.meta.url)('ws') as {
  Receiver: new (options: { isServer: boolean }) => WsReceiver;
  Sender: { frame(data: Buffer, options: object): Buffer[] };
};

/** What a client's `ws` reads from the bytes: the messages, each with whether it was text. */
function read(bytes: Buffer): Promise<Array<{ text: string; binary: boolean }>> {
  const receiver = new Receiver({ isServer: false });
  const messages: Array<{ text: string; binary: boolean }> = [];
  receiver.on('message', (data, binary) => void messages.push({ text: data.toString(), binary }));
  return new Promise((resolve, reject) => {
    receiver.on('error', reject);
    receiver.write(bytes, () => resolve(messages));
  });
}

/** The frame `ws` itself would send for the message (its Sender, unmasked, as a server). */
function framedByWs(message: Buffer): Buffer {
  return Buffer.concat(Sender.frame(message, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));
}

describe('prepared wire frames', () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70_000]) {
    it(`frames a ${length}-byte message byte for byte as ws does, and a client reads it back`, async () => {
      const message = Buffer.from('x'.repeat(length));
      const wire = wireFrameOf(message);
      assert.deepEqual(wire, framedByWs(message));
      assert.deepEqual(await read(wire), [{ text: message.toString(), binary: false }]);
    });
  }

  it('gives the same frame for the same message object, a new one for another', () => {
    const a = Buffer.from('{"type":"event"}');
    const b = Buffer.from('{"type":"event"}');
    assert.equal(wireFrameOf(a), wireFrameOf(a));
    assert.notEqual(wireFrameOf(b), wireFrameOf(a));
    assert.deepEqual(wireFrameOf(b), wireFrameOf(a));
  });
});

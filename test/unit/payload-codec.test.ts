import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { payloadJsonOf } from '../../src/transports/grpc/payload-codec.js';
import { pushRequestOf } from '../helpers/go-replica.js';

describe('PushEvent payload codec', () => {
  it('round-trips an event through the proto shape in the Go service field order', () => {
    const payload = {
      row_data: { a: 1, b: 'x', c: [true, null], d: { e: 2.5 } },
      event_id: 'e1',
      company_id: 'c',
      chat_id: 'k',
      event_time: 't',
    };
    const req = pushRequestOf({ companyId: 'c', agentId: 'a', chatId: 'k' }, payload, 'pod-1');
    assert.equal(req.source_pod_id, 'pod-1');
    assert.equal(
      payloadJsonOf(req.payload!),
      '{"event_id":"e1","event_time":"t","company_id":"c","chat_id":"k",' +
        '"row_data":{"a":1,"b":"x","c":[true,null],"d":{"e":2.5}}}',
    );
  });
});

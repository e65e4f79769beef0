import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { uid } from '../helpers/env.js';
import { companyToken, startGateway, userUrl, type RunningGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

const PROTO = new URL('../../proto/', import.meta.url).pathname;
const REFLECTION = new URL('../../node_modules/@grpc/reflection/build/proto/', import.meta.url).pathname;

/** A client built from proto/dws_message_fwd.proto, as a Go replica or any other peer would. */
function clients(address: string) {
  const def = protoLoader.loadSync(
    ['dws_message_fwd.proto', 'grpc/health/v1/health.proto', 'grpc/reflection/v1alpha/reflection.proto'],
    {
      keepCase: true,
      defaults: true,
      enums: String,
      includeDirs: [PROTO, REFLECTION],
    },
  );
  const pkg = grpc.loadPackageDefinition(def) as any;
  const creds = grpc.credentials.createInsecure();
  return {
    fwd: new pkg.dws_message_fwd.MessageForwardingService(address, creds),
    health: new pkg.grpc.health.v1.Health(address, creds),
    reflection: new pkg.grpc.reflection.v1alpha.ServerReflection(address, creds),
  };
}

const unary = (client: any, method: string, req: unknown, md = new grpc.Metadata()) =>
  new Promise<any>((resolve, reject) =>
    client[method](req, md, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))),
  );

describe('gRPC between pods (docs/protocol.md, *gRPC*)', () => {
  let gw: RunningGateway;
  let c: ReturnType<typeof clients>;
  const company = uid('c');
  const agent = uid('a');

  before(async () => {
    gw = await startGateway({
      DAISI_WS_SERVER_ENABLE_REFLECTION: 'true',
      DAISI_WS_SERVER_HOST: '127.0.0.1',
      DAISI_WS_SERVER_GRPC_LISTENER: 'on',
    });
    c = clients(`127.0.0.1:${gw.gateway.grpcPort()}`);
  });
  after(() => gw.stop());

  it('GET /ready checks the gRPC health service of this process', async () => {
    const r = await fetch(`${gw.http}/ready`);
    assert.deepEqual(await r.json(), {
      status: 'READY',
      dependencies: { nats: 'embedded', redis: 'embedded', grpc: 'serving' },
    });
  });

  it('PushEvent delivers to every local session viewing the chat (docs/compat.md #2)', async () => {
    const [v1, v2, other] = await Promise.all(
      [uid('u'), uid('u'), uid('u')].map((u) =>
        TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, u))),
      ),
    );
    v1!.selectChat('k');
    v2!.selectChat('k');
    other!.selectChat('z');
    await waitFor(
      () =>
        gw.gateway.registry.chatSessions(company, agent, 'k').size === 2 &&
        gw.gateway.registry.chatSessions(company, agent, 'z').size === 1,
    );
    const md = new grpc.Metadata();
    md.set('request_id', 'req-grpc-1');
    const res = await unary(
      c.fwd,
      'PushEvent',
      {
        payload: {
          event_id: 'ev-1',
          company_id: company,
          agent_id: agent,
          chat_id: 'k',
          event_time: '2026-01-01T00:00:00Z',
          row_data: { fields: { body: { stringValue: 'hi' }, n: { numberValue: 3 }, ok: { boolValue: true } } },
        },
        target_company_id: company,
        target_agent_id: agent,
        target_chat_id: 'k',
        source_pod_id: 'go-pod-7',
      },
      md,
    );
    assert.deepEqual([res.success, res.message], [true, 'Event delivered to 2 local session(s)']);
    for (const viewer of [v1!, v2!]) {
      const [ev] = await viewer.waitEvents(1);
      assert.deepEqual(ev!.payload, {
        event_id: 'ev-1',
        event_time: '2026-01-01T00:00:00Z',
        company_id: company,
        agent_id: agent,
        chat_id: 'k',
        row_data: { body: 'hi', n: 3, ok: true },
      });
    }
    assert.equal(other!.events().length, 0);
    const metrics = await (await fetch(`${gw.http}/metrics`)).text();
    assert.match(metrics, /dws_grpc_messages_received_total\{source_pod_id="go-pod-7"\} 1/);
    await Promise.all([v1!, v2!, other!].map((x) => x.close()));
  });

  it('PushEvent with an empty target chat delivers a chat-list event to every session of the agent', async () => {
    const u = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
    const res = await unary(c.fwd, 'PushEvent', {
      payload: { event_id: 'list-1', company_id: company },
      target_company_id: company,
      target_agent_id: agent,
    });
    assert.equal(res.success, true);
    assert.equal((await u.waitEvents(1))[0]!.payload.event_id, 'list-1');
    await u.close();
  });

  it('answers success:true with the reason when no local session wants the event, INVALID_ARGUMENT without a payload', async () => {
    const res = await unary(c.fwd, 'PushEvent', {
      payload: { event_id: 'x' },
      target_company_id: 'nobody',
      target_agent_id: 'a',
      target_chat_id: 'k',
    });
    assert.equal(res.success, true, 'false would make a Go pod NAK and redeliver at once');
    assert.match(res.message, /No local session wants this event; handled/);
    await assert.rejects(
      unary(c.fwd, 'PushEvent', { target_company_id: company }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT,
    );
  });

  it('serves grpc.health.v1 as SERVING', async () => {
    assert.equal((await unary(c.health, 'Check', { service: '' })).status, 'SERVING');
  });

  it('lists the service through reflection when enabled', async () => {
    const call = c.reflection.ServerReflectionInfo();
    const answer = new Promise<any>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.write({ list_services: '' });
    const res = await answer;
    call.end();
    const names = res.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes('dws_message_fwd.MessageForwardingService'), names.join(','));
  });
});

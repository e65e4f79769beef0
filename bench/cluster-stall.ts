// A server of a JetStream cluster that stops answering (SIGSTOP), seen by a pod (SPEC §19, docs/deploy.md):
//   npx tsx bench/cluster-stall.ts [--rounds 16]
// Three nats-server 2.10 processes, an R3 stream, one pod. Each round: a new session, its pod's server paused,
// ten events of the session published through the other two; the figure is the time from the pause until the
// session has all ten (the pod leaves the silent server, the stream or meta leader may be elected again, and
// what was published meanwhile is read from the stream). Then the server goes on and catches up.
import { parseArgs } from 'node:util';
import { nats210, TestNatsCluster } from '../support/nats-cluster.js';
import { REDIS_ADDRESS, uid } from '../test/helpers/env.js';
import { companyToken, spawnGateway, userUrl } from '../test/helpers/gateway.js';
import { TestPublisher } from '../test/helpers/publisher.js';
import { TestClient } from '../test/helpers/ws-client.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '16' } } });
const ROUNDS = Number(values.rounds);
const GIVE_UP_MS = 60_000;

const binary = nats210();
if (!binary) throw new Error('no nats-server 2.10 (scripts/fetch-nats-2.10.sh)');
const cluster = await TestNatsCluster.start(binary);
const stream = uid('r3');
const company = uid('c');
const pod = await spawnGateway('127.0.0.91', {
  DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
  DAISI_WS_NATS_URL: cluster.url,
  DAISI_WS_NATS_STREAM_NAME: stream,
  DAISI_WS_NATS_STREAM_REPLICAS: '3',
});
const times: number[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const agent = `agent-${round}`;
    const client = await TestClient.ready(userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))));
    await cluster.caughtUp(stream);
    const paused = await cluster.serverOf('consumer-127.0.0.91');
    const leader = (await cluster.streamInfo(stream)).cluster?.leader;
    const pub = await TestPublisher.connect(
      cluster.nodes
        .filter((_, i) => i !== paused)
        .map((n) => n.url)
        .join(','),
    );
    const pausedAt = Date.now();
    cluster.signal(paused, 'SIGSTOP');
    let line: string;
    try {
      for (let i = 0; i < 10; i++)
        await pub.publishUntilStored(`wa.${company}.${agent}.chats`, { event_id: `p-${i}` }, `${agent}-p-${i}`);
      const stored = Date.now() - pausedAt;
      const got = await client.waitEvents(10, GIVE_UP_MS).then(
        () => Date.now() - pausedAt,
        () => undefined,
      );
      if (got !== undefined) times.push(got);
      line = `stored after ${stored} ms, ${got === undefined ? `not all delivered in ${GIVE_UP_MS} ms` : `delivered after ${got} ms`}`;
    } finally {
      cluster.signal(paused, 'SIGCONT');
      await pub.close();
      await client.close();
    }
    const role = cluster.nodes[paused]!.name === leader ? 'the stream leader' : 'a follower';
    console.log(`round ${round}: paused ${cluster.nodes[paused]!.name} (${role}); ${line}`);
    await cluster.caughtUp(stream);
  }
} finally {
  await pod.kill();
  await cluster.stop();
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
console.log(
  `${times.length} of ${ROUNDS} rounds delivered; from the pause to the last event: ` +
    `min ${times[0]} ms, median ${at(0.5)} ms, max ${times.at(-1)} ms`,
);

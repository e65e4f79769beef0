import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const yamlDocs = (path: string) =>
  parseAllDocuments(read(path), { merge: true }).map((d) => {
    assert.deepEqual(d.errors, [], `${path} parses`);
    return d.toJS();
  });

/** The deployment files cannot be run here (no Docker engine); these checks keep them honest. */
describe('deployment files', () => {
  it('Dockerfile: multi-stage, non-root, health check on /ready, SIGTERM', () => {
    const text = read('Dockerfile');
    assert.ok((text.match(/^FROM /gm) ?? []).length >= 2);
    assert.match(text, /^USER node$/m);
    assert.match(text, /^HEALTHCHECK .*\n?.*\/ready/m);
    assert.match(text, /^STOPSIGNAL SIGTERM$/m);
    for (const dir of ['proto', 'public', 'config']) assert.match(text, new RegExp(`^COPY ${dir} `, 'm'));
  });

  it('docker-compose: two gateway replicas, Prometheus scraping both, on clustered NATS and Redis with Sentinel', () => {
    const [compose] = yamlDocs('deploy/docker-compose.yaml');
    const services = compose.services;
    assert.ok(services['gateway-1'] && services['gateway-2'] && services.prometheus);
    // Three JetStream servers routed to each other, on 2.10; the gateways and bridges know all three.
    const nats = ['nats-1', 'nats-2', 'nats-3'].map((n) => services[n]);
    for (const [i, server] of nats.entries()) {
      assert.match(server.image, /^nats:2\.1\d/);
      assert.ok(server.command.includes('-js'));
      const routes = server.command[server.command.indexOf('--routes') + 1] as string;
      assert.deepEqual(
        routes.split(',').sort(),
        ['nats-1', 'nats-2', 'nats-3'].filter((_, j) => j !== i).map((n) => `nats://${n}:6222`),
      );
    }
    // The third starts once the first two have a JetStream meta leader (support/nats-cluster.ts does the same).
    assert.match(services['nats-1'].healthcheck.test.join(' '), /:8222\/healthz/);
    assert.deepEqual(services['nats-3'].depends_on, { 'nats-1': { condition: 'service_healthy' } });
    for (const name of ['gateway-1', 'gateway-2', 'cdc-1']) {
      const env = services[name].environment;
      assert.equal(env.DAISI_WS_NATS_URL, 'nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222', name);
      assert.equal(env.DAISI_WS_NATS_STREAM_REPLICAS, '3', name);
    }
    // Redis: a replica of the master, three sentinels watching it under the name the gateways ask for.
    assert.deepEqual(services['redis-2'].command.slice(-3), ['--replicaof', 'redis-1', '6379']);
    const gateway = services['gateway-1'].environment;
    assert.equal(gateway.DAISI_WS_REDIS_ADDRESS, undefined);
    assert.equal(gateway.DAISI_WS_REDIS_SENTINEL_MASTER_NAME, 'dws');
    for (const [i, address] of gateway.DAISI_WS_REDIS_SENTINEL_ADDRESSES.split(',').entries()) {
      const sentinel = services[`sentinel-${i + 1}`];
      assert.equal(address, `sentinel-${i + 1}:26379`);
      assert.match(sentinel.entrypoint.join(' '), /sentinel monitor dws redis-1 6379 2/);
    }
    assert.notEqual(
      services['gateway-1'].environment.DAISI_WS_SERVER_POD_ID,
      services['gateway-2'].environment.DAISI_WS_SERVER_POD_ID,
    );
    const [prom] = yamlDocs('deploy/prometheus.yml');
    assert.deepEqual(prom.scrape_configs[0].static_configs[0].targets, ['gateway-1:8080', 'gateway-2:8080']);
  });

  it('docker-compose: the pipeline from PostgreSQL without Sequin: two CDC bridges, scraped, on a logical-WAL database', () => {
    const [compose] = yamlDocs('deploy/docker-compose.yaml');
    const services = compose.services;
    assert.deepEqual(
      Object.keys(services).filter((name) => /sequin|consumer/i.test(name)),
      [],
      'no Sequin, no cdc-consumer-service',
    );
    assert.ok(services.postgres.command.includes('wal_level=logical'));
    assert.match(services.postgres.volumes[0], /^\.\/postgres\/init\.sql:/);
    for (const name of ['cdc-1', 'cdc-2']) {
      const cdc = services[name];
      assert.deepEqual(cdc.command, ['cdc'], name);
      assert.equal(cdc.environment.DAISI_WS_NATS_URL, services['gateway-1'].environment.DAISI_WS_NATS_URL);
      assert.match(cdc.environment.DAISI_WS_CDC_POSTGRES_URL, /@postgres:5432\//);
    }
    const [prom] = yamlDocs('deploy/prometheus.yml');
    assert.deepEqual(prom.scrape_configs[1].static_configs[0].targets, ['cdc-1:8080', 'cdc-2:8080']);
  });

  it(
    'Kubernetes: pod id from the pod IP, clustered NATS and Sentinel, readiness on /ready, preStop and a ' +
      'grace period above the shutdown timeout',
    () => {
      const [deployment] = yamlDocs('deploy/k8s/deployment.yaml');
      const spec = deployment.spec.template.spec;
      const container = spec.containers[0];
      const podId = container.env.find((e: { name: string }) => e.name === 'DAISI_WS_SERVER_POD_ID');
      assert.equal(podId.valueFrom.fieldRef.fieldPath, 'status.podIP');
      const env = Object.fromEntries(
        container.env
          .filter((e: { value?: string }) => e.value)
          .map((e: { name: string; value: string }) => [e.name, e.value]),
      );
      assert.equal(env.DAISI_WS_NATS_URL.split(',').length, 3, 'every server of the NATS cluster');
      assert.equal(env.DAISI_WS_NATS_STREAM_REPLICAS, '3');
      assert.ok(
        env.DAISI_WS_REDIS_SENTINEL_ADDRESSES && env.DAISI_WS_REDIS_SENTINEL_MASTER_NAME,
        'Redis through Sentinel',
      );
      assert.equal(container.readinessProbe.httpGet.path, '/ready');
      assert.ok(container.lifecycle.preStop);
      assert.ok(spec.terminationGracePeriodSeconds > 30);
      for (const file of readdirSync(new URL('deploy/k8s/', root))) yamlDocs(`deploy/k8s/${file}`);
    },
  );

  it('Kubernetes: two CDC bridges on the clustered NATS, the database from the secret, the heap capped', () => {
    const [bridge] = yamlDocs('deploy/k8s/cdc.yaml');
    assert.equal(bridge.spec.replicas, 2, 'one reads the slot, one stands by');
    const container = bridge.spec.template.spec.containers[0];
    assert.deepEqual(container.args, ['cdc']);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e]));
    assert.equal(env.DAISI_WS_NATS_STREAM_REPLICAS.value, '3');
    assert.equal(env.DAISI_WS_CDC_POSTGRES_URL.valueFrom.secretKeyRef.name, 'daisi-ws-secrets');
    // The flags bench/cdc.ts measures the bridge with; docker-compose runs it the same way.
    assert.equal(env.NODE_OPTIONS.value, '--max-old-space-size=48 --max-semi-space-size=4');
    const [compose] = yamlDocs('deploy/docker-compose.yaml');
    for (const name of ['cdc-1', 'cdc-2'])
      assert.equal(compose.services[name].environment.NODE_OPTIONS, env.NODE_OPTIONS.value, name);
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    const [secret] = yamlDocs('deploy/k8s/secret.example.yaml');
    assert.ok(secret.stringData.DAISI_WS_CDC_POSTGRES_URL);
  });

  it('Grafana dashboard: valid JSON that charts every dws_ metric', () => {
    const dashboard = JSON.parse(read('deploy/grafana/daisi-ws-dashboard.json'));
    const exprs = dashboard.panels
      .flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map((t) => t.expr))
      .join('\n');
    const metricsSource = read('src/platform/metrics.ts');
    const names = [...metricsSource.matchAll(/'(dws_[a-z_]+)'/g)].map((m) => m[1]!);
    assert.ok(names.length >= 32);
    for (const name of names) assert.ok(exprs.includes(name), `${name} is charted`);
  });
});

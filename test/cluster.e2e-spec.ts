import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalKafkaNodes, stopLocalKafka } from '../scripts/kafka/launcher.js';
import { logEndAdmin } from '../scripts/lib/kafka-admin.js';
import { uniquePrefix } from './support/kafka.js';
import { OwnBroker } from './support/own-broker.js';
import { Service, scratchDir } from './support/service.js';

/**
 * Deposits with Idempotency-Keys from `clients` concurrent clients until `stop()`, each retried
 * with its key until it is answered: a deposit counts as acknowledged on its 202.
 */
function load(service: Service, wallets: string[], clients = 8) {
  const acknowledged = new Map<string, { walletId: string; amount: number }>();
  let running = true;
  const client = async () => {
    while (running) {
      const walletId = wallets[Math.floor(Math.random() * wallets.length)];
      const amount = 1 + Math.floor(Math.random() * 500);
      const key = randomUUID();
      for (let attempt = 0; attempt < 60; attempt++) {
        const response = await service.deposit(walletId, amount, { 'Idempotency-Key': key }).catch(() => undefined);
        if (response?.status === 202) {
          acknowledged.set(response.body.deposit_id, { walletId, amount });
          break;
        }
        await sleep(500);
      }
    }
  };
  const done = Promise.all(Array.from({ length: clients }, client));
  return {
    acknowledged,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Every acknowledged deposit is in its wallet's history once, and every balance is its history's sum. */
async function verify(service: Service, wallets: string[], acknowledged: Map<string, { walletId: string; amount: number }>) {
  const problems: string[] = [];
  const counted = new Map<string, number>();
  for (const walletId of wallets) {
    const ids: string[] = [];
    let sumCents = 0;
    let cursor: string | null = null;
    do {
      const page = await service.request('GET', `/wallets/${walletId}/deposits?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      for (const deposit of page.body.deposits) {
        ids.push(deposit.deposit_id);
        sumCents += Math.round(deposit.amount * 100);
      }
      cursor = page.body.next_cursor;
    } while (cursor);
    for (const id of ids) counted.set(id, (counted.get(id) ?? 0) + 1);
    const check = (await service.check(walletId)).body;
    if (Number(check.balance_minor) !== sumCents || check.deposit_count !== ids.length) {
      problems.push(`${walletId}: balance ${check.balance_minor}/${check.deposit_count}, history ${sumCents}/${ids.length}`);
    }
  }
  for (const [id, times] of counted) if (times > 1) problems.push(`${id} counted ${times} times`);
  for (const [id, { walletId }] of acknowledged) if (!counted.has(id)) problems.push(`acknowledged ${id} of ${walletId} not counted`);
  return problems;
}

/** Waits until the service's groups committed everything and its views read it all. */
async function settle(service: Service, brokers: string[], prefix: string, sasl?: { username: string; password: string }) {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, ...(sasl && { sasl: { mechanism: 'scram-sha-256', ...sasl } }) });
  const admin = logEndAdmin(kafka);
  await admin.connect();
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      let lag = 0;
      const lagging: string[] = [];
      for (const [group, topic] of [['balance', 'deposit'], ['threshold', 'deposit'], ['flagger', 'flag_wallet']]) {
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(`${prefix}${topic}`),
          admin.fetchOffsets({ groupId: `${prefix}${group}`, topics: [`${prefix}${topic}`] }),
        ]);
        for (const end of ends) {
          const done = Number(committed.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
          const behind = Number(end.high) - Math.max(0, done);
          if (behind > 0) lagging.push(`${group} ${topic}/${end.partition}: ${behind}`);
          lag += behind;
        }
      }
      const metrics = (await service.request('GET', '/metrics')).body as string;
      const viewLag = metrics
        .split('\n')
        .filter((line) => line.startsWith('stream_view_lag_records{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
      if (lag === 0 && viewLag === 0) return;
      if (Date.now() > deadline) {
        // What the next look needs: which partitions, how each group of the service sees itself, and
        // what the service said besides its request lines (it logs warnings and errors only).
        const summary = (await service.request('GET', '/monitor/api/summary')).body as { groups: Array<Record<string, unknown> & { partitions: Array<Record<string, unknown>> }> };
        const groups = summary.groups.map(({ group, running, retrying, processed, partitions }) => ({ group, running, retrying, processed, states: partitions.map((partition) => `${String(partition.partition)}:${String(partition.state)}`) }));
        const said = service.process.output.filter((line) => !line.includes('"req":'));
        throw new Error(
          `not settled: group lag ${lag} (${lagging.join(', ')}), view lag ${viewLag}; groups ${JSON.stringify(groups)}; the service's last lines besides requests:\n${said.slice(-40).join('\n')}`,
        );
      }
      await sleep(500);
    }
  } finally {
    await admin.disconnect();
  }
}

describe('a 3-broker cluster', () => {
  const cluster = new OwnBroker('cluster3', Number(process.env.CLUSTER_KAFKA_PORT ?? 19692), { nodes: 3 });
  const data = scratchDir('cluster');
  let service: Service | undefined;

  afterAll(async () => {
    await service?.stop();
    await cluster.destroy();
    rmSync(data, { recursive: true, force: true });
  }, 120_000);

  it('replicates every topic 3 times, and counts every acknowledged deposit once while a broker is down', async () => {
    await cluster.start(true);
    const brokers = cluster.brokers;
    const prefix = uniquePrefix('cluster');
    service = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'a'), env: { KAFKA_BROKERS: brokers } });

    const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [`${prefix}deposit`, `${prefix}balance-table`] });
    const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: `${prefix}balance-table`, configNames: ['min.insync.replicas'] }] });
    await admin.disconnect();
    expect(topics.flatMap((topic) => topic.partitions.map((partition) => partition.replicas.length))).toEqual(Array(12).fill(3));
    expect(configs.resources[0].configEntries[0].configValue).toBe('2');

    const wallets = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const traffic = load(service, wallets);
    await sleep(4000);
    await stopLocalKafka(cluster.options, [2]);
    await sleep(8000);
    await startLocalKafkaNodes(cluster.options, [2]);
    await sleep(4000);
    await traffic.stop();
    await settle(service, brokers.split(','), prefix);

    expect(traffic.acknowledged.size).toBeGreaterThan(50);
    expect(await verify(service, wallets, traffic.acknowledged)).toEqual([]);
  }, 400_000);
});

describe('a broker with a SASL/SCRAM listener', () => {
  const sasl = { username: 'depositaja', password: 'scram-secret-1' };
  const secured = new OwnBroker('sasl-service', Number(process.env.SASL_KAFKA_PORT ?? 19792), { sasl });
  const data = scratchDir('sasl');
  let service: Service | undefined;

  afterAll(async () => {
    await service?.stop();
    await secured.destroy();
    rmSync(data, { recursive: true, force: true });
  }, 120_000);

  it('serves the whole path when the service authenticates with SCRAM-SHA-256', async () => {
    await secured.start(true);
    const brokers = secured.brokers;
    service = await Service.start('service', {
      entry: 'main',
      topicPrefix: uniquePrefix('sasl'),
      dataDir: join(data, 'a'),
      env: { KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: sasl.username, KAFKA_SASL_PASSWORD: sasl.password },
    });
    await service.deposit('s1', 6000);
    const last = await service.deposit('s1', 4000.01);
    const check = await service.check('s1', `?token=${last.body.token}`);

    expect(check.body).toMatchObject({ balance: 10000.01, above_threshold: true });
    expect(service.process.output.join('\n')).not.toContain(sasl.password);
  }, 240_000);
});

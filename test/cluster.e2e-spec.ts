import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalKafkaNodes, stopLocalKafka } from '../scripts/kafka/launcher.js';
import { readTable, readTopic } from '../bench/lib/kafka.js';
import { logEndAdmin } from '../scripts/lib/kafka-admin.js';
import { topics } from '../src/contracts/topic-map.js';
import { forEachChangelogEntry } from '../src/streams/store-batch.js';
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

/** The wallets a failed verification names, once each. */
function walletsIn(problems: string[]): string[] {
  return [...new Set(problems.map((problem) => /^(?:acknowledged \S+ of )?(\w+)/.exec(problem)?.[1] ?? ''))];
}

/** What the service said besides its request lines (it logs warnings and errors only). */
function saidBesidesRequests(service: Service): string[] {
  return service.process.output.filter((line) => !line.includes('"req":'));
}

/**
 * For a failed verification: what the balance changelog itself holds for the wallets named, read
 * committed from outside the service, to tell a view that serves stale values from a table that
 * holds wrong ones.
 */
async function changelogSays(brokers: string[], prefix: string, problems: string[]): Promise<string[]> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const admin = logEndAdmin(kafka);
  await admin.connect();
  try {
    const table = await readTable(kafka, admin, `${prefix}${topics.balanceTable.name}`, (bytes) => topics.balanceTable.codec.decode(bytes));
    const history = new Map<string, Set<string>>();
    await readTopic(kafka, admin, `${prefix}${topics.balanceDeposits.name}`, (records) => {
      for (const record of records) {
        forEachChangelogEntry(record, (entry) => {
          const key = entry.key;
          if (!key.includes('/h/')) return;
          const walletId = key.slice(0, key.indexOf('/'));
          (history.get(walletId) ?? history.set(walletId, new Set()).get(walletId)!).add(key.slice(key.lastIndexOf('/') + 1));
        });
      }
    });
    return walletsIn(problems).map((walletId) => {
      const value = table.get(walletId);
      const seqs = [...(history.get(walletId) ?? [])].sort();
      const gaps = seqs.filter((seq, index) => Number(seq) !== index + 1);
      return `changelog ${walletId}: balance ${value?.balanceMinor ?? '-'}/${value?.depositCount ?? '-'}, history ${seqs.length} entries${gaps.length ? `, out of sequence from ${gaps[0]}` : ''}`;
    });
  } finally {
    await admin.disconnect();
  }
}

/** For a failed verification: the balance view's stored value of each wallet named (LevelDB, not its cache). */
async function viewSays(service: Service, problems: string[]): Promise<string[]> {
  const said: string[] = [];
  for (const walletId of walletsIn(problems)) {
    const found = await service.request('GET', `/monitor/api/lookup?table=balance-table&key=${walletId}`, undefined, { authorization: `Bearer ${DIAGNOSTIC_TOKEN}` });
    said.push(`view store ${walletId}: ${JSON.stringify(found.body)}`);
  }
  return said;
}

const DIAGNOSTIC_TOKEN = 'cluster-test-admin-token-0123456789';

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
      const committedAt: string[] = [];
      for (const [group, topic] of [['balance', 'deposit'], ['threshold', 'deposit'], ['flagger', 'flag_wallet']]) {
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(`${prefix}${topic}`),
          admin.fetchOffsets({ groupId: `${prefix}${group}`, topics: [`${prefix}${topic}`] }),
        ]);
        for (const end of ends) {
          const done = Number(committed.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
          const behind = Number(end.high) - Math.max(0, done);
          if (behind > 0) {
            lagging.push(`${group} ${topic}/${end.partition}: ${behind}`);
            committedAt.push(`${group} ${topic}/${end.partition}: ${done} of ${end.high}`);
          }
          lag += behind;
        }
      }
      // The views, measured from outside too: each partition read up to its log's end. Their own
      // lag is as fresh as the last end they heard of, which a reader recovering from a lost
      // broker may not have heard of yet.
      const views = ((await service.request('GET', '/monitor/api/summary')).body as { views: Array<{ table: string; partitions: Array<{ partition: number; position: number }> }> }).views;
      let viewLag = 0;
      for (const view of views) {
        for (const end of await admin.fetchTopicOffsets(`${prefix}${view.table}`)) {
          const position = view.partitions.find((partition) => partition.partition === end.partition)?.position ?? 0;
          const behind = Number(end.high) - position;
          if (behind > 0) lagging.push(`view ${view.table}/${end.partition}: ${behind}`);
          viewLag += Math.max(0, behind);
        }
      }
      if (lag === 0 && viewLag === 0) return;
      if (Date.now() > deadline) {
        // What the next look needs: which partitions, how each group of the service sees itself, and
        // what the service said besides its request lines (it logs warnings and errors only); and
        // the last stable offsets of the lagging inputs: below their log ends, a transaction on
        // them is still open, and no read_committed consumer can pass it.
        const stable = kafka.admin();
        await stable.connect();
        const lastStable: string[] = [];
        for (const topic of ['deposit', 'flag_wallet']) {
          for (const end of await stable.fetchTopicOffsets(`${prefix}${topic}`)) lastStable.push(`${topic}/${end.partition}: ${end.high}`);
        }
        await stable.disconnect();
        const summary = (await service.request('GET', '/monitor/api/summary')).body as { groups: Array<Record<string, unknown> & { partitions: Array<Record<string, unknown>> }> };
        const groups = summary.groups.map(({ group, running, retrying, commit_failures, processed, partitions }) => ({ group, running, retrying, commit_failures, processed, states: partitions.map((partition) => `${String(partition.partition)}:${String(partition.state)}`) }));
        const said = saidBesidesRequests(service);
        throw new Error(
          `not settled: group lag ${lag} (${lagging.join(', ')}), view lag ${viewLag}; last stable offsets ${lastStable.join(', ')}; committed ${committedAt.join(', ')}; groups ${JSON.stringify(groups)}; the service's last lines besides requests:\n${said.slice(-40).join('\n')}`,
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
    service = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'a'), env: { KAFKA_BROKERS: brokers, ADMIN_TOKEN: DIAGNOSTIC_TOKEN } });

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
    const problems = await verify(service, wallets, traffic.acknowledged);
    if (problems.length > 0) {
      problems.push(...(await changelogSays(brokers.split(','), prefix, problems)), ...(await viewSays(service, problems)));
      problems.push(...saidBesidesRequests(service).slice(-60));
    }
    expect(problems).toEqual([]);
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

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Admin, Kafka, type KafkaConfig, type Producer, logLevel } from 'kafkajs';
import {
  type LocalKafkaOptions,
  defaultLocalKafkaOptions,
  localKafkaPids,
  localKafkaStatus,
  startLocalKafka,
  startLocalKafkaNodes,
  stopLocalKafka,
  wipeLocalKafka,
} from '../scripts/kafka/launcher.js';
import { eventually } from './support/kafka.js';
import { throwawayKafkaOptions as instance } from './support/own-broker.js';

// Each suite runs its own throwaway instance on its own ports, apart from the shared test broker
// (19092): created fresh, stopped and deleted afterwards, also when a test fails. The ports lie
// below Linux's ephemeral range (32768-60999), where any client socket of a test running beside
// it may hold one.

async function fresh(options: LocalKafkaOptions): Promise<string[]> {
  await stopLocalKafka(options);
  wipeLocalKafka(options);
  const { brokers, started } = await startLocalKafka(options);
  expect(started).toBe(true);
  return brokers.split(',');
}

async function discard(options: LocalKafkaOptions, ...clients: Array<{ disconnect(): Promise<void> } | undefined>): Promise<void> {
  await Promise.all(clients.map((client) => client?.disconnect().catch(() => undefined)));
  await stopLocalKafka(options);
  wipeLocalKafka(options);
}

/**
 * Creates a topic and waits until every broker knows its leaders. A KRaft broker learns of a new
 * topic a little after the controller answered, and kafkajs's `waitForLeaders` gives up on the
 * UNKNOWN_TOPIC_OR_PARTITION it meanwhile answers, so each broker is asked on its own.
 */
async function createTopic(config: KafkaConfig, admin: Admin, topic: Parameters<Admin['createTopics']>[0]['topics'][0]): Promise<void> {
  await admin.createTopics({ topics: [topic], waitForLeaders: false });
  for (const broker of config.brokers as string[]) {
    const single = new Kafka({ ...config, brokers: [broker], retry: { retries: 0 } }).admin();
    await single.connect();
    try {
      await eventually(`${broker} to know the leaders of ${topic.topic}`, async () => {
        const metadata = await single.fetchTopicMetadata({ topics: [topic.topic] }).catch(() => undefined);
        return metadata?.topics[0].partitions.every((partition) => partition.leader >= 0) ?? false;
      });
    } finally {
      await single.disconnect();
    }
  }
}

async function consumeAll(kafka: Kafka, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `launcher-${randomUUID()}`, sessionTimeout: 6_000, maxWaitTimeInMs: 200 });
  const values: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value!.toString());
          if (values.length === count) resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe('the local Kafka launcher with SASL/SCRAM', () => {
  const sasl = { username: 'depositaja', password: `pw-${randomUUID()}` };
  const options = instance('e2e-sasl', 19292, { sasl });
  let admin: Admin | undefined;
  let producer: Producer | undefined;

  afterAll(() => discard(options, admin, producer), 120_000);

  it('authenticates SCRAM clients, refuses a wrong password and unauthenticated clients', async () => {
    const brokers = await fresh(options);
    const status = localKafkaStatus(options);
    expect(status.running).toEqual([1]);
    expect(status.saslUsername).toBe('depositaja');

    const config: KafkaConfig = { brokers, logLevel: logLevel.NOTHING, sasl: { mechanism: 'scram-sha-256', ...sasl } };
    const kafka = new Kafka(config);
    const topic = `sasl-${randomUUID()}`;
    admin = kafka.admin();
    await admin.connect();
    await createTopic(config, admin, { topic, numPartitions: 1 });
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'over SCRAM-SHA-256' }] });
    expect(await consumeAll(kafka, topic, 1)).toEqual(['over SCRAM-SHA-256']);

    // The same user over SCRAM-SHA-512 reads what was written.
    const sha512 = new Kafka({ ...config, sasl: { mechanism: 'scram-sha-512', ...sasl } });
    expect(await consumeAll(sha512, topic, 1)).toEqual(['over SCRAM-SHA-256']);

    const refused = async (override: Partial<KafkaConfig>) => {
      const stranger = new Kafka({ ...config, retry: { retries: 0 }, ...override }).admin();
      try {
        await stranger.connect();
        await stranger.listTopics();
        return 'accepted';
      } catch (error) {
        return (error as Error).name;
      } finally {
        await stranger.disconnect().catch(() => undefined);
      }
    };
    expect(await refused({ sasl: { mechanism: 'scram-sha-256', username: sasl.username, password: 'wrong' } })).toBe(
      'KafkaJSSASLAuthenticationError',
    );
    expect(await refused({ sasl: undefined })).not.toBe('accepted');
  }, 240_000);

  it('refuses to start the instance with other credentials', async () => {
    const other = { ...options, sasl: { username: sasl.username, password: 'another-password' } };
    await expect(startLocalKafka(other)).rejects.toThrow(/other SASL credentials/);
    await expect(startLocalKafka({ ...options, sasl: undefined })).rejects.toThrow(/created with SASL/);
  }, 60_000);
});

describe('the local Kafka launcher with three nodes', () => {
  const options = instance('e2e-three', 19392, { nodes: 3 });
  let admin: Admin | undefined;
  let producer: Producer | undefined;

  afterAll(() => discard(options, admin, producer), 120_000);

  it('keeps a replicated topic writable with acks=all while one node is down, and brings it back', async () => {
    const brokers = await fresh(options);
    expect(brokers).toEqual(['127.0.0.1:19392', '127.0.0.1:19394', '127.0.0.1:19396']);
    const config: KafkaConfig = { brokers, logLevel: logLevel.NOTHING };
    const kafka = new Kafka(config);
    const topic = `replicated-${randomUUID()}`;
    admin = kafka.admin();
    await admin.connect();
    await createTopic(config, admin, {
      topic,
      numPartitions: 3,
      replicationFactor: 3,
      configEntries: [{ name: 'min.insync.replicas', value: '2' }],
    });
    const replicas = async () => (await admin!.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions;
    expect((await replicas()).map((partition) => partition.replicas.length)).toEqual([3, 3, 3]);

    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const send = (values: string[]) =>
      producer!.send({ topic, acks: -1, messages: values.map((value) => ({ key: value, value })) });
    await send(['a', 'b']);

    expect(await stopLocalKafka(options, [2])).toBe(1);
    expect(localKafkaStatus(options).running).toEqual([1, 3]);
    await send(['c', 'd', 'e']);
    expect((await replicas()).every((partition) => !partition.isr.includes(2) && partition.leader !== 2)).toBe(true);

    await startLocalKafkaNodes(options, [2]);
    expect(localKafkaStatus(options).running).toEqual([1, 2, 3]);
    await eventually('node 2 back in every in-sync replica set', async () =>
      (await replicas()).every((partition) => partition.isr.length === 3),
    );
    await send(['f']);

    expect((await consumeAll(kafka, topic, 6)).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  }, 300_000);
});

describe('the local Kafka launcher without its prerequisites', () => {
  it('names what is missing in one line when java is not on PATH, even with the jars resolved', () => {
    // node alone on PATH: the jars are resolved by the global setup, java cannot be found.
    const bin = mkdtempSync(join(tmpdir(), 'depositaja-nojava-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const result = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/kafka.ts', 'start', '--instance', 'nojava', '--port', '39192'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: bin },
    });
    rmSync(bin, { recursive: true, force: true });

    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('kafka: java not found on PATH: install Java 17 or newer, or point KAFKA_BROKERS at a running Kafka');
  });
});

describe("the local Kafka launcher's class archive", () => {
  // A project folder of its own whose jars are links to the shared ones: the archive it makes
  // stays there, and the shared one, which the other suites' brokers start from, is not touched.
  const root = mkdtempSync(join(tmpdir(), 'depositaja-cds-'));
  const shared = defaultLocalKafkaOptions(process.cwd());
  const options: LocalKafkaOptions = { ...instance('cds', 19892), rootDir: root };
  const sharedLib = join(process.cwd(), '.kafka', 'lib', shared.version);
  const lib = join(root, '.kafka', 'lib', shared.version);
  const jvmOptions = () => readFileSync(`/proc/${localKafkaPids(options)[0]}/cmdline`, 'utf8').split('\0');
  const archives = () => readdirSync(lib).filter((name) => name.endsWith('.jsa'));

  beforeAll(() => {
    mkdirSync(lib, { recursive: true });
    for (const jar of readdirSync(sharedLib).filter((name) => name.endsWith('.jar'))) symlinkSync(join(sharedLib, jar), join(lib, jar));
    writeFileSync(join(lib, '.complete'), 'linked\n');
  });
  afterAll(async () => {
    await discard(options);
    rmSync(root, { recursive: true, force: true });
  });

  it('is written by a node started without one as it stops, and the next start loads the classes from it', async () => {
    await fresh(options);
    expect(jvmOptions()).toContainEqual(expect.stringMatching(/^-XX:ArchiveClassesAtExit=/));
    expect(archives()).toEqual([]);

    await stopLocalKafka(options);
    expect(archives()).toEqual([expect.stringMatching(/^classes-[0-9a-f]{12}\.jsa$/)]);

    const { started } = await startLocalKafka(options);
    expect(started).toBe(true);
    expect(jvmOptions()).toContain(`-XX:SharedArchiveFile=${join(lib, archives()[0]!)}`);
    expect(jvmOptions().some((option) => option.startsWith('-XX:ArchiveClassesAtExit'))).toBe(false);
  }, 120_000);
});

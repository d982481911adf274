import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { type Admin, ConfigResourceTypes, Kafka, type Producer, logLevel } from 'kafkajs';
import { logEndAdmin } from '../scripts/lib/kafka-admin.js';
import { ChangelogEntry, ChangelogReader, type ChangelogRecord } from '../src/streams/changelog-reader.js';
import { TransactionCoordinators } from '../src/streams/kafkajs-transactions.js';
import { TransactionalProducer } from '../src/streams/producer.js';
import { LocalStore } from '../src/streams/state-store.js';
import { Task } from '../src/streams/task.js';
import { StreamsRuntime } from '../src/streams/streams-runtime.js';
import type { View } from '../src/streams/view.js';
import { type Sum, sumTopics } from './apps/sum-group.js';
import { brokers, createTopics, endOffsets, eventually, groupLag, testKafka, uniquePrefix } from './support/kafka.js';
import { TestProcess } from './support/processes.js';

/** A changelog record's value as text. */
function valueText(record: ChangelogRecord): string {
  const entry = new ChangelogEntry();
  record.locate(entry, Buffer.from('applied'), Buffer.from('store-batch'));
  return String(entry.value);
}

/**
 * The streams core against a real broker, through the `sum` test group running in child
 * processes (test/apps/sum-app.ts, built into dist-test/) that are killed with SIGKILL and restarted.
 * Each test has its own topics (a unique prefix) and its own local stores.
 */
describe('streams core on a real broker', () => {
  const kafka = testKafka();
  let admin: Admin;
  let producer: Producer;
  const scratch = mkdtempSync(join(tmpdir(), 'depositaja-core-'));
  const started: TestProcess[] = [];
  const runtimes: StreamsRuntime[] = [];

  beforeAll(async () => {
    admin = logEndAdmin(kafka);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.kill()));
    await Promise.all(runtimes.splice(0).map((runtime) => runtime.stop()));
  });

  afterAll(async () => {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
    rmSync(scratch, { recursive: true, force: true });
  });

  /** One test's world: its topic prefix, the sum-app processes it starts, the view it reads. */
  function world(name: string, partitions = 6) {
    const prefix = uniquePrefix(name);
    const topic = (logical: string) => `${prefix}${logical}`;
    const expected = new Map<string, { sum: bigint; count: number }>();

    const startProcessor = (instance: string, extraEnv: Record<string, string> = {}) => {
      const child = new TestProcess(`sum-app ${instance}`, 'dist-test/test/apps/sum-app.js', [], {
        KAFKA_BROKERS: brokers().join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_PARTITIONS: String(partitions),
        DATA_DIR: join(scratch, prefix, instance),
        // A killed member holds its partitions until its session expires.
        KAFKA_SESSION_TIMEOUT_MS: '3000',
        ...extraEnv,
      });
      started.push(child);
      return child;
    };

    let inputCreated = false;
    const send = async (records: Array<[key: string, value: bigint]>) => {
      if (!inputCreated) {
        // The broker does not create topics on use: the input exists before the first send.
        await createTopics(admin, [{ topic: topic('numbers'), numPartitions: partitions }]);
        inputCreated = true;
      }
      for (const [key, value] of records) {
        const entry = expected.get(key) ?? { sum: 0n, count: 0 };
        expected.set(key, { sum: entry.sum + value, count: entry.count + 1 });
      }
      await producer.send({
        topic: topic('numbers'),
        acks: -1,
        messages: records.map(([key, value]) => ({ key, value: Buffer.from(toBinary(Int64ValueSchema, create(Int64ValueSchema, { value }))) })),
      });
    };

    /** Views of the sums and, unless told not to, of the write-once entries store. */
    const openView = async (options: { entries?: boolean } = {}): Promise<View<Sum>> => {
      const runtime = new StreamsRuntime({
        connection: {
          brokers: brokers(),
          clientId: 'e2e-view',
          topicPrefix: prefix,
          partitions,
          replicationFactor: 1,
          minInsyncReplicas: 1,
          sessionTimeoutMs: 6000,
        },
        dataDir: join(scratch, prefix, 'view'),
        emitter: { lingerMs: 1, timeoutMs: 5000 },
      });
      runtimes.push(runtime);
      const view = runtime.view(sumTopics.sums);
      if (options.entries !== false) entriesView = runtime.view(sumTopics.entries);
      await runtime.start();
      return view;
    };
    let entriesView: View<{ value: string }> | undefined;

    /** Waits until the group has committed every record and the view has read every change. */
    const settle = async (view: View<Sum>, timeoutMs = 90_000) => {
      await eventually('the sum group to commit every record', async () => (await groupLag(admin, topic('sum'), topic('numbers'))) === 0, timeoutMs);
      const readers = [['sums', view], ...(entriesView ? [['sum-entries', entriesView]] : [])] as Array<[string, View<unknown>]>;
      for (const [changelog, reader] of readers) {
        const ends = await endOffsets(admin, topic(changelog));
        await eventually(`the view of ${changelog} to read the whole changelog`, () =>
          reader.status().partitions.every(({ partition, position }) => position >= (ends.get(partition) ?? 0)),
        );
      }
    };

    /** Every key's entries in the write-once store (one per number, numbered 1…count), against what was sent. */
    const entryDifferences = async () => {
      const wrong: string[] = [];
      for (const [key, { sum, count }] of expected) {
        const entries = await entriesView!.entries(`${key}/`);
        const numbered = entries.map(([entryKey]) => Number(entryKey.slice(key.length + 1))).sort((a, b) => a - b);
        const total = entries.reduce((n, [, entry]) => n + BigInt(entry.value), 0n);
        if (total !== sum || numbered.join() !== Array.from({ length: count }, (_, i) => i + 1).join()) {
          wrong.push(`${key}: expected entries 1…${count} summing to ${sum}, got [${numbered.join()}] summing to ${total}`);
        }
      }
      return wrong;
    };

    /** Every key's sum and count in the view, against what was sent. */
    const differences = (view: View<Sum>) => {
      const wrong: string[] = [];
      for (const [key, { sum, count }] of expected) {
        const actual = view.get(key);
        if (actual?.sum !== String(sum) || actual.count !== count) {
          wrong.push(`${key}: expected ${sum}/${count}, got ${actual ? `${actual.sum}/${actual.count}` : 'nothing'}`);
        }
      }
      return wrong;
    };

    return { prefix, topic, expected, startProcessor, send, openView, settle, differences, entryDifferences };
  }

  /** How many records a changelog holds now, every partition read from its start (the cleaner removes some). */
  const changelogRecords = async (topic: string): Promise<number> => {
    const ranges = [...(await endOffsets(admin, topic))].map(([partition, to]) => ({ topic, partition, from: 0, to }));
    let count = 0;
    await new ChangelogReader(kafka).readToEnd(ranges, async (_topic, _partition, records) => {
      count += records.length;
    });
    return count;
  };

  const numbers = (count: number, keys: number, seed: number): Array<[string, bigint]> =>
    Array.from({ length: count }, (_, i) => [`key-${(i * 7 + seed) % keys}`, BigInt(((i + seed) % 97) + 1)]);

  it('reads changelogs by offset without a consumer group: committed records only, to past the last marker', async () => {
    const topic = `${uniquePrefix('reader')}log`;
    await createTopics(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }]);
    const writer = kafka.producer({ transactionalId: `${topic}-writer`, idempotent: true, maxInFlightRequests: 1 });
    await writer.connect();
    const write = async (values: string[], outcome: 'commit' | 'abort') => {
      const transaction = await writer.transaction();
      await transaction.send({ topic, messages: values.map((value, index) => ({ key: value, value, partition: index % 2 })) });
      await (outcome === 'commit' ? transaction.commit() : transaction.abort());
    };
    await write(['a1', 'b1', 'a2', 'b2'], 'commit');
    await write(['x1', 'y1'], 'abort');
    await write(['a3', 'b3'], 'commit');
    await writer.disconnect();

    // To the end, from offset 1 on partition 0: a1 is before it, x1 aborted, the markers skipped.
    const read: string[] = [];
    const ends = await endOffsets(admin, topic);
    const ranges = [...ends].map(([partition, to]) => ({ topic, partition, from: partition === 0 ? 1 : 0, to }));
    await new ChangelogReader(kafka).readToEnd(ranges, async (_topic, partition, records) => {
      read.push(...records.map((record) => `${partition}:${valueText(record)}`));
    });
    expect(read.sort()).toEqual(['0:a2', '0:a3', '1:b1', '1:b2', '1:b3']);

    // Following: the records a writer commits now arrive, and no consumer group has this client as a member.
    const followed: string[] = [];
    const reader = new ChangelogReader(kafka);
    await reader.follow(
      [...ends.keys()].map((partition) => ({ topic, partition, from: ends.get(partition)! })),
      async (_topic, _partition, records) => {
        followed.push(...records.map(valueText));
      },
      () => undefined,
    );
    try {
      await producer.send({ topic, messages: [{ key: 'c', value: 'c1', partition: 1 }] });
      await eventually('the followed record', () => followed.includes('c1'), 30_000);
      const { groups } = await admin.listGroups();
      const described = groups.length > 0 ? (await admin.describeGroups(groups.map((group) => group.groupId))).groups : [];
      expect(described.filter((group) => group.members.some((member) => member.clientId === 'e2e')).map((group) => group.groupId)).toEqual([]);
    } finally {
      await reader.stop();
    }
  }, 60_000);

  /** A client that counts the Fetch and Metadata requests it sends, and keeps its sockets. */
  const countingClient = () => {
    // kafkajs writes each request in one piece: its API key follows the 4-byte length (Fetch 1, Metadata 3).
    const requests = { fetch: 0, metadata: 0 };
    const sockets: Socket[] = [];
    const counting = new Kafka({
      brokers: brokers(),
      clientId: 'e2e',
      logLevel: logLevel.NOTHING,
      socketFactory: ({ host, port, onConnect }) => {
        const socket = connect({ host, port }, onConnect);
        sockets.push(socket);
        const write = socket.write.bind(socket) as (bytes: Buffer, ...rest: unknown[]) => boolean;
        socket.write = ((bytes: Buffer, ...rest: unknown[]) => {
          const apiKey = bytes.length >= 6 ? bytes.readInt16BE(4) : -1;
          if (apiKey === 1) requests.fetch++;
          if (apiKey === 3) requests.metadata++;
          return write(bytes, ...rest);
        }) as typeof socket.write;
        return socket;
      },
    });
    return { requests, counting, sockets };
  };

  it('follows an idle changelog without asking for metadata before every fetch', async () => {
    const topic = `${uniquePrefix('idle')}log`;
    await createTopics(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }]);
    const { requests, counting } = countingClient();
    const reader = new ChangelogReader(counting);
    await reader.follow(
      [0, 1].map((partition) => ({ topic, partition, from: 0 })),
      async () => undefined,
      () => undefined,
    );
    try {
      await eventually('ten fetches of the idle changelog', () => requests.fetch >= 10, 30_000);
      // Once to connect, once for the topic; kafkajs's own factory default (metadataMaxAge 0) asked before every fetch.
      expect(requests.metadata).toBeLessThanOrEqual(3);
    } finally {
      await reader.stop();
    }
  }, 60_000);

  it('stops without waiting out the fetch the broker holds for an idle changelog, and closes its connection once that is answered', async () => {
    const topic = `${uniquePrefix('stop')}log`;
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
    const { counting, sockets } = countingClient();
    const reader = new ChangelogReader(counting);
    await reader.follow([{ topic, partition: 0, from: 0 }], async () => undefined, () => undefined);
    // Nothing to read: from now on the reader always has a fetch that the broker holds.
    await sleep(300);
    await reader.stop();

    // kafkajs ends a connection once its requests are answered; the answer to the fetch held is
    // I/O, which cannot come between the stop and its resolving.
    expect(sockets.some((socket) => !socket.writableEnded)).toBe(true);
    await eventually('its connections ended', () => sockets.every((socket) => socket.writableEnded), 10_000);
  }, 60_000);

  it('reads to an end without asking again for a partition it has fetched to its end', async () => {
    const topic = `${uniquePrefix('toend')}log`;
    await createTopics(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }]);
    await producer.send({ topic, messages: ['a', 'b', 'c', 'd'].map((value, index) => ({ key: value, value, partition: index % 2 })) });
    const ranges = [...(await endOffsets(admin, topic))].map(([partition, to]) => ({ topic, partition, from: 0, to }));
    const { requests, counting } = countingClient();
    const read: string[] = [];
    await new ChangelogReader(counting).readToEnd(ranges, async (_topic, _partition, records) => {
      read.push(...records.map(valueText));
      // As a restoration's write to LevelDB does, applying takes a while.
      await sleep(200);
    });
    expect(read.sort()).toEqual(['a', 'b', 'c', 'd']);
    // One fetch brings both partitions to their ends. A second one would find nothing, and the
    // broker would hold it for the reader's whole wait before the restoration could end.
    expect(requests.fetch).toBe(1);
  }, 60_000);

  it('applies N records with known keys: table and changelog hold the exact sums', async () => {
    const w = world('exact');
    const processor = w.startProcessor('a');
    await processor.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/);
    await w.send(numbers(5000, 50, 1));
    const view = await w.openView();
    await w.settle(view);

    expect(w.differences(view)).toEqual([]);
    expect(w.expected.size).toBe(50);
  }, 120_000);

  it('commits its offsets as soon as it has worked off a backlog, not at the next tick of its offset commits', async () => {
    const w = world('caught-up');
    await w.send(numbers(20_000, 500, 3));
    // Ticks a minute apart: only committing on catching up brings the lag to 0 within the wait below.
    const processor = w.startProcessor('a', { SUM_APP_OFFSET_COMMIT_MS: '60000', SUM_APP_BATCH_BYTES: String(64 * 1024) });
    await processor.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/);
    const view = await w.openView({ entries: false });
    await w.settle(view, 30_000);
    expect(w.differences(view)).toEqual([]);
  }, 120_000);

  it('counts every record exactly once while the processor is killed with SIGKILL again and again', async () => {
    const w = world('kill9');
    let processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    const sending = (async () => {
      for (let round = 0; round < 40; round++) {
        await w.send(numbers(500, 200, round));
        await sleep(100);
      }
    })();
    for (let kill = 0; kill < 5; kill++) {
      await sleep(800 + kill * 150);
      await processor.kill('SIGKILL');
      processor = w.startProcessor('a');
      await processor.waitFor(/joined/);
    }
    await sending;
    const view = await w.openView();
    await w.settle(view);

    expect(w.differences(view)).toEqual([]);
    expect(await w.entryDifferences()).toEqual([]);
    expect([...w.expected.values()].reduce((n, entry) => n + entry.count, 0)).toBe(20_000);
  }, 240_000);

  it('restarts after SIGKILL as the group member it was, without waiting for that member\'s session to expire', async () => {
    const w = world('rejoin');
    // A session far longer than the test waits: only rejoining as the dead member gets the partitions back in time.
    let processor = w.startProcessor('a', { KAFKA_SESSION_TIMEOUT_MS: '120000' });
    await processor.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/);
    await w.send(numbers(1000, 50, 1));
    await eventually('the first records to be committed', async () => (await groupLag(admin, w.topic('sum'), w.topic('numbers'))) === 0);
    await processor.kill('SIGKILL');
    await w.send(numbers(1000, 50, 2));

    processor = w.startProcessor('a', { KAFKA_SESSION_TIMEOUT_MS: '120000' });
    await processor.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\] \(as the member it was before\)/, 60_000);
    const view = await w.openView();
    await w.settle(view, 60_000);

    expect(w.differences(view)).toEqual([]);
  }, 180_000);

  it('rebuilds the identical table from the changelog when the local data is deleted (cold restore)', async () => {
    const w = world('cold');
    let processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    await w.send(numbers(3000, 100, 5));
    await eventually('the first records to be committed', async () => (await groupLag(admin, w.topic('sum'), w.topic('numbers'))) === 0);
    await processor.kill('SIGTERM');
    rmSync(join(scratch, w.prefix, 'a'), { recursive: true, force: true });

    processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    // New records add to whatever the restore rebuilt: any wrong or missing value shows.
    await w.send(numbers(1000, 100, 9));
    const view = await w.openView();
    await w.settle(view);

    expect(processor.lines(/restored \d+ records/).length).toBe(6);
    expect(processor.lines(/restoring \d+ changelog records \(cold\)/).length).toBe(6);
    expect(w.differences(view)).toEqual([]);
    expect(await w.entryDifferences()).toEqual([]);
  }, 120_000);

  it('creates its overwritten changelogs with small segments, and restores exactly from the compacted log', async () => {
    const w = world('compacted', 2);
    const env = { KAFKA_CHANGELOG_SEGMENT_BYTES: String(1024 * 1024) };
    let processor = w.startProcessor('a', env);
    await processor.waitFor(/joined/);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: ['sums', 'sum-entries'].map((name) => ({ type: ConfigResourceTypes.TOPIC, name: w.topic(name), configNames: ['segment.bytes'] })),
    });
    expect(configs.resources.map((resource) => [resource.resourceName, resource.configEntries[0].configValue])).toEqual([
      [w.topic('sums'), String(1024 * 1024)],
      [w.topic('sum-entries'), String(1024 ** 3)], // a history: nothing to compact, left at the broker's default
    ]);

    // Each key six times over: closed segments hold several values of a key, which the cleaner
    // compacts (it only looks below the active segment).
    const records = numbers(120_000, 20_000, 3);
    for (let from = 0; from < records.length; from += 10_000) await w.send(records.slice(from, from + 10_000));
    await eventually('the records to be committed', async () => (await groupLag(admin, w.topic('sum'), w.topic('numbers'))) === 0, 90_000);
    const written = [...(await endOffsets(admin, w.topic('sums'))).values()].reduce((sum, end) => sum + end, 0);
    await eventually('the cleaner to compact the changelog', async () => (await changelogRecords(w.topic('sums'))) < written * 0.75, 60_000);
    await processor.kill('SIGTERM');
    rmSync(join(scratch, w.prefix, 'a'), { recursive: true, force: true });

    processor = w.startProcessor('a', env);
    await processor.waitFor(/joined/);
    await w.send(numbers(1000, 20_000, 11));
    const view = await w.openView();
    await w.settle(view);

    const restored = processor.lines(/restored \d+ records/).reduce((sum, line) => sum + Number(/restored (\d+) records/.exec(line)![1]), 0);
    expect(restored).toBeLessThan(written * 0.75);
    expect(w.differences(view)).toEqual([]);
    expect(await w.entryDifferences()).toEqual([]);
  }, 180_000);

  it('splits the partitions between two processes, and the survivor takes over when one is killed', async () => {
    const w = world('pair');
    const a = w.startProcessor('a');
    await a.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/);
    await w.send(numbers(2000, 100, 1));
    const b = w.startProcessor('b');
    await b.waitFor(/joined; owns partitions \[\d(, \d)*\]/);
    await a.waitFor(/released partition/);
    await w.send(numbers(2000, 100, 2));
    await eventually('both to have processed', async () => (await groupLag(admin, w.topic('sum'), w.topic('numbers'))) === 0);

    const ownedByB = (b.lines(/joined; owns partitions/).at(-1) ?? '').match(/owns partitions \[(.*?)\]/)![1];
    expect(ownedByB.split(', ').length).toBe(3);
    await b.kill('SIGKILL');
    await w.send(numbers(2000, 100, 3));
    await a.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/, 30_000);
    const view = await w.openView();
    await w.settle(view);

    // a owned b's partitions before b came; it caught up with what b wrote meanwhile.
    expect(a.lines(/restoring \d+ changelog records \(warm\)/).length).toBeGreaterThanOrEqual(1);
    expect(w.differences(view)).toEqual([]);
  }, 120_000);

  it('sends poison records to the dead-letter topic with their origin, and processes what follows', async () => {
    const w = world('poison');
    const processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    await w.send([['key-1', 1n]]);
    await producer.send({
      topic: w.topic('numbers'),
      messages: [
        { key: 'key-1', value: Buffer.from([0xff, 0xff, 0xff]) },
        { key: null, value: Buffer.from(toBinary(Int64ValueSchema, create(Int64ValueSchema, { value: 5n }))) },
        { key: 'key-1', value: Buffer.from(toBinary(Int64ValueSchema, create(Int64ValueSchema, { value: -5n }))) },
      ],
    });
    await w.send([['key-1', 2n]]);
    const view = await w.openView();
    await w.settle(view);

    const dead: Array<{ key: string | null; headers: Record<string, string> }> = [];
    const consumer = kafka.consumer({ groupId: `${w.prefix}dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: `${w.topic('numbers')}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
        dead.push({ key: message.key?.toString() ?? null, headers });
      },
    });
    await eventually('three dead letters', () => dead.length >= 3, 30_000);
    await consumer.disconnect();

    expect(dead.map((letter) => letter.headers['dlq.error'])).toEqual(
      expect.arrayContaining([expect.stringContaining('cannot decode'), 'record has no key', 'negative number -5']),
    );
    for (const letter of dead) {
      expect(letter.headers).toMatchObject({ 'dlq.group': 'sum', 'dlq.topic': w.topic('numbers') });
      expect(Number(letter.headers['dlq.offset'])).toBeGreaterThanOrEqual(0);
      expect(Number(letter.headers['dlq.partition'])).toBeGreaterThanOrEqual(0);
    }
    expect(w.differences(view)).toEqual([]);
  }, 120_000);

  it('a view in another process reports ready only once it holds every value', async () => {
    const w = world('view');
    const processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    await w.send(numbers(20_000, 2000, 4));
    await eventually('the group to commit every record', async () => (await groupLag(admin, w.topic('sum'), w.topic('numbers'))) === 0, 90_000);
    await processor.kill('SIGTERM');

    // The sums' view alone: a second view starting beside it gives it time to catch up first.
    const view = await w.openView({ entries: false });
    const readyAtOnce = view.ready;
    await view.whenReady();

    expect(readyAtOnce).toBe(false);
    expect(w.differences(view)).toEqual([]);
  }, 120_000);

  it("claiming a transactional id it holds already waits until the id's last transaction is visible, as a rejoin's restoration needs", async () => {
    const w = world('claim');
    await createTopics(admin, [{ topic: w.topic('log'), numPartitions: 1 }]);
    // Read-committed end offsets, as a restoration reads to.
    const restoring = kafka.admin();
    await restoring.connect();
    const owner = new TransactionalProducer(kafka, w.topic('owner-0'));
    const unseen: number[] = [];
    try {
      await owner.claim();
      for (let i = 0; i < 40; i++) {
        const [ack] = await owner.send([{ topic: w.topic('log'), partition: 0, key: 'k', value: Buffer.from(String(i)) }]);
        await owner.claim();
        const [end] = await restoring.fetchTopicOffsets(w.topic('log'));
        if (Number(end.high) < ack.baseOffset + ack.count) unseen.push(i);
      }
    } finally {
      await Promise.all([owner.close(), restoring.disconnect()]);
    }

    expect(unseen).toEqual([]);
  }, 60_000);

  it("a task claiming partitions fences the group's transactional ids that overlap them: their open transaction aborted, their producer refused; the others write on", async () => {
    const w = world('fence');
    const log = w.topic('log');
    await createTopics(admin, [{ topic: log, numPartitions: 1 }]);
    const group = w.topic('sum');
    // An instance that owned all six partitions before, and one that owns the other half now.
    const before = kafka.producer({ transactionalId: `${group}-0-5`, idempotent: true, maxInFlightRequests: 1 });
    const beside = kafka.producer({ transactionalId: `${group}-3-5`, idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([before.connect(), beside.connect()]);
    const coordinators = new TransactionCoordinators(kafka);
    const store = await LocalStore.open(join(scratch, w.prefix, 'store'));
    const task = new Task(group, { first: 0, last: 2 }, kafka, { coordinators, store });
    try {
      const open = await before.transaction();
      await open.send({ topic: log, acks: -1, messages: [{ key: 'k', value: 'before' }] });
      const besides = await beside.transaction();
      await besides.send({ topic: log, acks: -1, messages: [{ key: 'k', value: 'beside' }] });

      await task.claimed();

      await expect(open.commit()).rejects.toThrow();
      await besides.commit();
      const [end] = (await endOffsets(admin, log)).values();
      const values: string[] = [];
      await new ChangelogReader(kafka).readToEnd([{ topic: log, partition: 0, from: 0, to: end }], async (_topic, _partition, records) => {
        values.push(...records.map(valueText));
      });
      expect(values).toEqual(['beside']);
    } finally {
      await Promise.all([before.disconnect(), beside.disconnect(), task.close(), coordinators.close()]);
      await store.close();
    }
  }, 60_000);

  it('refuses to start when a dead-letter topic made by hand has fewer partitions than its input', async () => {
    const w = world('dlq-narrow');
    await createTopics(admin, [
      { topic: w.topic('numbers'), numPartitions: 6 },
      { topic: w.topic('numbers.dlq'), numPartitions: 2 },
    ]);
    const processor = w.startProcessor('a');
    const { code } = await processor.exited;

    expect(code).toBe(1);
    expect(processor.output.join('\n')).toContain(`topic ${w.topic('numbers.dlq')} has 2 partitions, expected at least 6 like ${w.topic('numbers')}`);
  }, 60_000);

  it('refuses to start when a group topic is not co-partitioned, naming topic, expected and found', async () => {
    const w = world('mismatch');
    await createTopics(admin, [
      { topic: w.topic('numbers'), numPartitions: 6 },
      { topic: w.topic('sums'), numPartitions: 4, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
    const processor = w.startProcessor('a');
    const { code } = await processor.exited;

    expect(code).toBe(1);
    expect(processor.output.join('\n')).toContain(`topic ${w.topic('sums')} has 4 partitions, expected 6 like ${w.topic('numbers')}`);
  }, 60_000);

  it.each(['transaction-sent', 'transaction-committed', 'store-written'])(
    'counts every record exactly once when the processor dies right after the commit step "%s"',
    async (step) => {
      const w = world(`crash-${step}`);
      // Many small produce requests make many small record batches, hence many small fetches.
      const records = numbers(6000, 300, 3);
      for (let i = 0; i < records.length; i += 60) await w.send(records.slice(i, i + 60));
      // Three lives that each die right after the step of their second batch, then one that finishes.
      for (let life = 0; life < 3; life++) {
        const processor = w.startProcessor('a', { SUM_APP_CRASH: `${step}:2`, SUM_APP_BATCH_BYTES: '4096' });
        expect((await processor.exited).signal).toBe('SIGKILL');
      }
      const processor = w.startProcessor('a', { SUM_APP_BATCH_BYTES: '4096' });
      await processor.waitFor(/joined/);
      const view = await w.openView();
      await w.settle(view);

      expect(w.differences(view)).toEqual([]);
      expect(await w.entryDifferences()).toEqual([]);
    },
    240_000,
  );
});

import { createRequire } from 'node:module';
import { type PoolBroker, failingWithBroker, joinAs, offsetsOfKnownTopics, recordDecoder, recordEncoder, rejoiningConsumerGroup } from './kafkajs-patches.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare bytes with.
const load = createRequire(`${process.cwd()}/package.json`);
const Encoder = load('kafkajs/src/protocol/encoder.js');
const original = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Long = load('kafkajs/src/utils/long.js');
const Decoder = load('kafkajs/src/protocol/decoder.js');
const originalDecoder = load('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const ConsumerGroup = load('kafkajs/src/consumer/consumerGroup.js');
const BrokerPool = load('kafkajs/src/cluster/brokerPool.js');
const Cluster = load('kafkajs/src/cluster/index.js');
const { createErrorFromCode } = load('kafkajs/src/protocol/error.js');
const { KafkaJSRequestTimeoutError } = load('kafkajs/src/errors.js');

describe(recordEncoder.name, () => {
  const patched = recordEncoder(Encoder);

  it.each([
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]) }],
    ['no value (a tombstone)', { key: Buffer.from('k'), value: null }],
    ['string key and value', { key: 'clé', value: 'välue' }],
    ['headers', { key: 'k', value: Buffer.alloc(300, 7), headers: { applied: 'deposit=12345', 'dlq.error': 'x'.repeat(200) } }],
    ['repeated headers', { key: 'k', value: 'v', headers: { a: ['1', '2'], b: Buffer.from('3') } }],
    ['offsets and times', { key: 'k', value: 'v', offsetDelta: 99_999, timestampDelta: Long.fromNumber(1_796_000_000_123) }],
    ['times as numbers', { key: 'k', value: 'v', offsetDelta: 64, timestampDelta: 1_796_000_000_123 }],
    ['a negative time', { key: 'k', value: 'v', offsetDelta: 1, timestampDelta: -1 }],
    ['a time that is not a whole number', { key: 'k', value: 'v', timestampDelta: Number.NaN }],
    ['a long value and a long key', { key: 'k'.repeat(200), value: Buffer.alloc(70_000, 1) }],
    ['empty key and value', { key: '', value: Buffer.alloc(0) }],
  ])('writes the bytes kafkajs writes: %s', (_case, record) => {
    expect(patched(record as never).buffer).toEqual(original(record).buffer);
  });
});

describe(recordDecoder.name, () => {
  const patched = recordDecoder(Long, Decoder);
  // Every field a consumer of kafkajs reads, read twice: the patched record reads its bytes on access.
  const decodeWith = (decode: (decoder: unknown, context: unknown) => unknown, record: object, context: object) => {
    const bytes = new Decoder(original(record).buffer).readVarIntBytes();
    const message = decode(new Decoder(bytes), context) as Record<string, unknown>;
    const read = () => Object.fromEntries(['magicByte', 'attributes', 'timestamp', 'offset', 'key', 'value', 'headers', 'isControlRecord', 'batchContext'].map((name) => [name, message[name]]));
    const first = read();
    expect(read()).toEqual(first);
    return first;
  };
  const batch = { firstOffset: '1234567', firstTimestamp: '1796000000000', magicByte: 2, timestampType: 0, maxTimestamp: '1796000000999' };

  it.each([
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]), offsetDelta: 7, timestampDelta: 12 }, batch],
    ['no key, no value', { key: null, value: null }, batch],
    ['an empty key, a value longer than a byte of length', { key: '', value: Buffer.alloc(300, 9) }, batch],
    ['headers, one repeated, one empty', { key: 'k', value: 'v', headers: { applied: 'deposit=12345', a: ['1', '2', '3'], b: '' } }, batch],
    ['a negative time delta', { key: 'k', value: 'v', timestampDelta: -5 }, batch],
    ['a time delta past 49 bits', { key: 'k', value: 'v', timestampDelta: Long.fromNumber(2 ** 52) }, batch],
    ['offsets past 2^53', { key: 'k', value: 'v', offsetDelta: 3 }, { ...batch, firstOffset: '9007199254740990' }],
    ['log append time', { key: 'k', value: 'v', timestampDelta: 40 }, { ...batch, timestampType: 1 }],
    ['a control batch', { key: 'k', value: 'v' }, { ...batch, isControlBatch: true }],
  ])('reads what kafkajs reads: %s', (_case, record, context) => {
    expect(decodeWith(patched as never, record, context)).toEqual(decodeWith(originalDecoder, record, context));
  });
});

describe(rejoiningConsumerGroup.name, () => {
  const Group = rejoiningConsumerGroup(ConsumerGroup);
  const make = (groupId: string) => new Group({ groupId, logger: { namespace: () => ({}) }, retry: {} } as never);

  it('starts the next consumer of a group as the member joinAs names, once', () => {
    joinAs('balance', 'member-1');

    expect(make('threshold').memberId).toBeNull();
    expect(make('balance').memberId).toBe('member-1');
    expect(make('balance').memberId).toBeNull();
  });

  it('starts as a new member when there is none to rejoin as', () => {
    joinAs('balance', 'member-1');
    joinAs('balance', undefined);

    expect(make('balance').memberId).toBeNull();
  });

  it("makes kafkajs's consumer group ask for whatever is there, over the minBytes it was given", () => {
    const group = new Group({ groupId: 'balance', minBytes: 512 * 1024, logger: { namespace: () => ({}) }, retry: {} } as never);

    expect(group.minBytes).toBe(1);
  });

  describe('fetches after a join', () => {
    /** A consumer group that sends its fetches as kafkajs's does: minBytes read after an await. */
    class FetchingGroup {
      groupId: string;
      memberId: string | null = null;
      minBytes: number;
      readonly sent: number[] = [];
      answer: Array<{ isEmpty(): boolean }> = [];
      constructor(options: { groupId: string; minBytes?: number }) {
        this.groupId = options.groupId;
        this.minBytes = options.minBytes ?? 1;
      }
      async joinAndSync(): Promise<void> {}
      async fetch(): Promise<Array<{ isEmpty(): boolean }>> {
        await Promise.resolve();
        this.sent.push(this.minBytes);
        return this.answer;
      }
    }
    const Eager = rejoiningConsumerGroup(FetchingGroup as never);
    const batch = (records: number) => ({ isEmpty: () => records === 0 });

    it('ask for whatever is there until records come, then for minBytes while they keep coming', async () => {
      const group = new Eager({ groupId: 'balance', minBytes: 512 * 1024 }) as unknown as FetchingGroup;
      group.answer = [batch(0), batch(0)];
      await group.fetch();
      group.answer = [batch(0), batch(3)];
      await group.fetch();
      await group.fetch();
      await group.fetch();

      expect(group.sent).toEqual([1, 1, 512 * 1024, 512 * 1024]);
    });

    it('ask for whatever is there again after a fetch that brought nothing, and after a join', async () => {
      const group = new Eager({ groupId: 'balance', minBytes: 512 * 1024 }) as unknown as FetchingGroup;
      group.answer = [batch(3)];
      await group.fetch();
      group.answer = [batch(0)];
      await group.fetch();
      await group.fetch();
      group.answer = [batch(3)];
      await group.fetch();
      await group.joinAndSync();
      await group.fetch();

      expect(group.sent).toEqual([1, 512 * 1024, 1, 1, 1]);
    });
  });
});

describe(failingWithBroker.name, () => {
  // kafkajs's own withBroker, on a pool of two brokers that each answer as `answer` says.
  const pool = (answer: (nodeId: string) => Promise<unknown>) => ({
    brokers: { 1: {}, 2: {} },
    findBroker: async ({ nodeId }: { nodeId: string }) => ({ ask: () => answer(nodeId) }),
  });
  const ask = async ({ broker }: PoolBroker) => (broker as { ask: () => Promise<unknown> }).ask();
  const withBroker = BrokerPool.prototype.withBroker;
  const sut = failingWithBroker(withBroker);

  it('throws the last error when no broker answers, where kafkajs resolves null', async () => {
    const timedOut = pool(async () => {
      throw new KafkaJSRequestTimeoutError('Request Metadata(key: 3, version: 6) timed out');
    });
    await expect(withBroker.call(timedOut, ask)).resolves.toBeNull();
    await expect(sut.call(timedOut, ask)).rejects.toMatchObject({ name: 'KafkaJSRequestTimeoutError', retriable: true });
  });

  it('answers with the first broker that answers', async () => {
    const oneDown = pool(async (nodeId) => {
      if (nodeId === '1') throw new KafkaJSRequestTimeoutError('timed out');
      return { topicMetadata: [] };
    });
    for (let attempt = 0; attempt < 5; attempt++) await expect(sut.call(oneDown, ask)).resolves.toEqual({ topicMetadata: [] });
  });

  it('passes on an answer that is null', async () => {
    await expect(sut.call(pool(async () => null), ask)).resolves.toBeNull();
  });
});

describe(offsetsOfKnownTopics.name, () => {
  // kafkajs's own fetchTopicsOffset, on a cluster whose cached metadata knows only `known`, and
  // whose leader answers offset 7 for every partition asked about.
  const cluster = (known: Record<string, number[]>) => ({
    isolationLevel: 1,
    findTopicPartitionMetadata: (topic: string) => (known[topic] ?? []).map((partitionId) => ({ partitionId, leader: 1 })),
    findLeaderForPartitions: Cluster.prototype.findLeaderForPartitions,
    defaultOffset: Cluster.prototype.defaultOffset,
    findBroker: async () => ({
      listOffsets: async ({ topics }: { topics: Array<{ topic: string; partitions: Array<{ partition: number }> }> }) => ({
        responses: topics.map(({ topic, partitions }) => ({ topic, partitions: partitions.map(({ partition }) => ({ partition, offset: '7' })) })),
      }),
    }),
  });
  const asked = [{ topic: 'balance-table', fromBeginning: false, partitions: [{ partition: 0 }, { partition: 1 }] }];
  const fetchTopicsOffset = Cluster.prototype.fetchTopicsOffset;
  const sut = offsetsOfKnownTopics(fetchTopicsOffset, () => createErrorFromCode(3));

  it('fails with a retriable UNKNOWN_TOPIC_OR_PARTITION for a topic the metadata lost, where kafkajs answers nothing', async () => {
    const raced = cluster({ 'flagger-table': [0, 1] });
    await expect(fetchTopicsOffset.call(raced, asked)).resolves.toEqual([]);
    await expect(sut.call(raced, asked)).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true });
  });

  it('answers as kafkajs does for topics the metadata holds', async () => {
    const known = cluster({ 'balance-table': [0, 1] });
    const expected = [{ topic: 'balance-table', partitions: [{ partition: 0, offset: '7' }, { partition: 1, offset: '7' }] }];
    await expect(fetchTopicsOffset.call(known, asked)).resolves.toEqual(expected);
    await expect(sut.call(known, asked)).resolves.toEqual(expected);
  });
});

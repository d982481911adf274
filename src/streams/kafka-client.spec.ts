import { Kafka, logLevel } from 'kafkajs';
import { adminAndEnds, describeKafkaLog, endOffsets } from './kafka-client.js';

describe(describeKafkaLog.name, () => {
  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) => ({ level, log: { message, timestamp: '', logger: 'kafkajs', ...extra } });

  it('says in plain words what a late reply means, at warn', () => {
    expect(describeKafkaLog(entry(logLevel.WARN, 'Response without match', { clientId: 'depositaja', correlationId: 42 }))).toEqual({
      level: 'warn',
      line: 'a broker answered a request after it had timed out: the broker or this machine is slow',
    });
  });

  it('keeps what kafkajs retries by itself out of the warnings', () => {
    const loading = entry(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2): The group coordinator is not available', { groupId: 'balance' });
    expect(describeKafkaLog(loading).level).toBe('debug');
  });

  it('keeps topic creation errors at debug: the core decides on them, and a race of two creators is no news', () => {
    const raced = entry(logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', { error: 'Topic creation errors' });
    expect(describeKafkaLog(raced)).toEqual({ level: 'debug', line: 'Response CreateTopics(key: 19, version: 3): Topic creation errors' });
  });

  it('passes an error on as an error, with its group and cause', () => {
    expect(describeKafkaLog(entry(logLevel.ERROR, 'Crash', { groupId: 'balance', error: 'boom' }))).toEqual({ level: 'error', line: 'Crash (group balance): boom' });
  });
});

describe(adminAndEnds.name, () => {
  type OffsetsRequest = Array<{ topic: string; fromBeginning: boolean; partitions: Array<{ partition: number }> }>;
  const UNKNOWN_TOPIC_OR_PARTITION = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true });

  /** A client whose clusters are `cluster`: a topic of two partitions, ending at 7 and 9, and each offsets request kept. */
  const clientOver = (fail?: Error, answered: Promise<void> = Promise.resolve()) => {
    const cluster = {
      requests: [] as OffsetsRequest,
      refreshes: 0,
      connect: async () => undefined,
      disconnect: async () => undefined,
      refreshMetadata: async () => void cluster.refreshes++,
      refreshMetadataIfNecessary: async () => undefined,
      addTargetTopic: async () => undefined,
      addMultipleTargetTopics: async () => undefined,
      findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }],
      async fetchTopicsOffset(topics: OffsetsRequest) {
        cluster.requests.push(...topics);
        await answered;
        if (fail) throw fail;
        return topics.map(({ topic, fromBeginning, partitions }) => ({ topic, partitions: partitions.map(({ partition }) => ({ partition, offset: fromBeginning ? '0' : String(7 + 2 * partition) })) }));
      },
    };
    const kafka = new Kafka({ brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING });
    const factory = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === 'private:Kafka:createCluster')!;
    (kafka as unknown as Record<symbol, unknown>)[factory] = () => cluster;
    return { kafka, cluster };
  };

  it("asks for a topic's ends in one request, where kafkajs's admin asks for its starts after them", async () => {
    const ours = clientOver();
    const { ends } = adminAndEnds(ours.kafka);
    const kafkajs = clientOver();

    expect(await endOffsets(ends, 'balance-table', 2)).toEqual(new Map([[0, 7], [1, 9]]));
    expect((await kafkajs.kafka.admin().fetchTopicOffsets('balance-table')).map(({ partition, high }) => [partition, Number(high)])).toEqual([[0, 7], [1, 9]]);
    expect(ours.cluster.requests.map(({ fromBeginning }) => fromBeginning)).toEqual([false]);
    expect(kafkajs.cluster.requests.map(({ fromBeginning }) => fromBeginning)).toEqual([false, true]);
  });

  it('asks once for a topic that several callers ask for in one turn, and never shares a request sent before a caller asked', async () => {
    let answer!: () => void;
    const { kafka, cluster } = clientOver(undefined, new Promise<void>((resolve) => (answer = resolve)));
    const { ends } = adminAndEnds(kafka);

    const partitions = [0, 1, 2, 3, 4, 5].map(() => endOffsets(ends, 'balance-table', 2));
    const other = endOffsets(ends, 'balance-keys-table', 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(cluster.requests.map(({ topic }) => topic)).toEqual(['balance-table', 'balance-keys-table']);

    // Asked while the first request is out: its ends must be measured after that.
    const later = endOffsets(ends, 'balance-table', 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(cluster.requests.map(({ topic }) => topic)).toEqual(['balance-table', 'balance-keys-table', 'balance-table']);

    answer();
    for (const ends of await Promise.all([...partitions, other, later])) expect(ends).toEqual(new Map([[0, 7], [1, 9]]));
  });

  it('refreshes the metadata when Kafka does not know the topic there, as kafkajs does, and leaves the asking again to its caller', async () => {
    const { kafka, cluster } = clientOver(UNKNOWN_TOPIC_OR_PARTITION);
    await expect(adminAndEnds(kafka).ends.endsOf('balance-table')).rejects.toBe(UNKNOWN_TOPIC_OR_PARTITION);

    expect(cluster.refreshes).toBe(1);
    expect(cluster.requests).toHaveLength(1);
  });
});

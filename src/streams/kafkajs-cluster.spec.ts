import { createRequire } from 'node:module';
import {
  type KafkaMetadataDefinition,
  NO_TOPICS,
  type PoolBroker,
  askingForNoTopics,
  checkingOnlyWhatIsHeldBack,
  failingWithBroker,
  offsetsOfKnownTopics,
  rediscoveringCoordinator,
  refreshingNoTopics,
  rememberingTransactionCoordinators,
} from './kafkajs-cluster.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare with.
const load = createRequire(`${process.cwd()}/package.json`);
const BrokerPool = load('kafkajs/src/cluster/brokerPool.js');
const Cluster = load('kafkajs/src/cluster/index.js');
const OffsetManager = load('kafkajs/src/consumer/offsetManager/index.js');
const RequestQueue = load('kafkajs/src/network/requestQueue/index.js');
const Metadata = load('kafkajs/src/protocol/requests/metadata/index.js') as KafkaMetadataDefinition & { versions: string[] };
const { createErrorFromCode } = load('kafkajs/src/protocol/error.js');
const { KafkaJSRequestTimeoutError } = load('kafkajs/src/errors.js');
const createEosManager = load('kafkajs/src/producer/eosManager/index.js');

describe(rediscoveringCoordinator.name, () => {
  class PatchedOffsetManager extends OffsetManager {}
  rediscoveringCoordinator(PatchedOffsetManager.prototype);

  /** A broker that answers offset commits as `answer` says, and counts them. */
  const broker = (answer: () => Promise<void>) => ({
    connected: true,
    commits: 0,
    isConnected(): boolean {
      return this.connected;
    },
    async offsetCommit(): Promise<void> {
      this.commits++;
      await answer();
    },
  });
  type Broker = ReturnType<typeof broker>;
  const refuses = () => broker(() => Promise.reject(createErrorFromCode(16)));
  const accepts = () => broker(() => Promise.resolve());
  /** kafkajs's offset manager of the flagger, made at a join whose coordinator was `known`; the cluster now names `now`. */
  const manager = (Manager: typeof OffsetManager, known: Broker, now: Broker) =>
    new Manager({
      groupId: 'flagger',
      generationId: 1,
      memberId: 'member-1',
      memberAssignment: { flag_wallet: [0] },
      coordinator: known,
      instrumentationEmitter: { emit: () => undefined },
      // kafkajs reconnects a lost coordinator by its node id: the same broker.
      cluster: { findGroupCoordinator: async () => now, findBroker: async () => known, refreshMetadata: async () => undefined, committedOffsets: () => ({}) },
    }) as { commitOffsets(offsets: unknown): Promise<void> };
  const offsets = { topics: [{ topic: 'flag_wallet', partitions: [{ partition: 0, offset: '5' }] }] };

  it('commits to the coordinator the cluster names once the one it knew says the group moved, where kafkajs asks that one again', async () => {
    const [known, now] = [refuses(), accepts()];
    const patched = manager(PatchedOffsetManager, known, now);
    await expect(patched.commitOffsets(offsets)).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
    await patched.commitOffsets(offsets);
    const [knownByKafkajs, nowByKafkajs] = [refuses(), accepts()];
    const kafkajs = manager(OffsetManager, knownByKafkajs, nowByKafkajs);
    await expect(kafkajs.commitOffsets(offsets)).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
    await expect(kafkajs.commitOffsets(offsets)).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });

    expect([known.commits, now.commits]).toEqual([1, 1]);
    expect([knownByKafkajs.commits, nowByKafkajs.commits]).toEqual([2, 0]);
  });

  it('asks the cluster after the connection to the one it knew was lost, not that broker again', async () => {
    const [known, now] = [refuses(), accepts()];
    known.connected = false;
    await manager(PatchedOffsetManager, known, now).commitOffsets(offsets);

    expect([known.commits, now.commits]).toEqual([0, 1]);
  });

  it('keeps committing to the coordinator it knows while that one answers', async () => {
    const [known, now] = [accepts(), accepts()];
    const patched = manager(PatchedOffsetManager, known, now);
    await patched.commitOffsets(offsets);
    await patched.commitOffsets({ topics: [{ topic: 'flag_wallet', partitions: [{ partition: 0, offset: '6' }] }] });

    expect([known.commits, now.commits]).toEqual([2, 0]);
  });
});

describe(checkingOnlyWhatIsHeldBack.name, () => {
  class PatchedRequestQueue extends RequestQueue {}
  checkingOnlyWhatIsHeldBack(PatchedRequestQueue.prototype);

  const quiet = { debug: () => undefined, warn: () => undefined };
  /** kafkajs's request queue of one connection, counting its checks for requests held back. */
  const queue = (Queue: typeof RequestQueue, maxInFlightRequests?: number) => {
    const made = new Queue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'depositaja', broker: '127.0.0.1:9092', logger: quiet });
    const check = made.checkPendingRequests;
    made.checks = 0;
    made.checkPendingRequests = function (this: typeof made) {
      this.checks++;
      check.call(this);
    };
    queues.push(made);
    return made as { checks: number; maybeThrottle(ms: number): void; push(request: unknown): void; fulfillRequest(answer: unknown): void };
  };
  const queues: Array<{ destroy(): void }> = [];
  afterEach(() => queues.splice(0).forEach((made) => made.destroy()));

  /** A Fetch through `into`: whether the queue has sent it yet, and its answer. */
  const fetch = (into: ReturnType<typeof queue>, correlationId: number) => {
    const request = { sent: false, answer: () => into.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 }) };
    const entry = { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve: () => undefined, reject: () => undefined };
    into.push({ entry, expectResponse: true, sendRequest: () => void (request.sent = true) });
    return request;
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('checks nothing once its requests are answered, where kafkajs checks every millisecond for as long as the connection is open', async () => {
    const [patched, kafkajs] = [queue(PatchedRequestQueue), queue(RequestQueue)];
    fetch(patched, 1).answer();
    fetch(kafkajs, 1).answer();
    await sleep(100);

    // The one check is the answer's own: it sends whatever waited for a free slot. kafkajs's
    // timer keeps firing; how often within 100 ms depends on how busy the machine is (11 seen
    // with the suites running in parallel on 2 cores), so only "more than a few" is asserted.
    expect(patched.checks).toBe(1);
    expect(kafkajs.checks).toBeGreaterThan(3);
  });

  it("sends a request the broker's throttle held back once the throttle is over", async () => {
    const throttled = queue(PatchedRequestQueue);
    throttled.maybeThrottle(30);
    const request = fetch(throttled, 1);
    expect(request.sent).toBe(false);
    await sleep(80);

    expect(request.sent).toBe(true);
  });

  it('sends a request the in-flight limit held back once one in flight is answered', () => {
    const limited = queue(PatchedRequestQueue, 1);
    const first = fetch(limited, 1);
    const second = fetch(limited, 2);
    expect([first.sent, second.sent]).toEqual([true, false]);
    first.answer();

    expect(second.sent).toBe(true);
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

describe(refreshingNoTopics.name, () => {
  const asked: Array<readonly string[]> = [];
  const sut = refreshingNoTopics(async (topics) => void asked.push(topics));

  it('refreshes the metadata of no topic for a client without topics of its own, and of its topics otherwise', async () => {
    await sut.call(undefined, []);
    await sut.call(undefined, ['deposit', 'balance-table']);
    expect(asked[0]).toBe(NO_TOPICS);
    expect(asked[1]).toEqual(['deposit', 'balance-table']);
  });
});

describe(askingForNoTopics.name, () => {
  // kafkajs's own Metadata request definition, patched in a copy.
  const patched = { ...Metadata };
  askingForNoTopics(patched);
  const bytes = async (definition: KafkaMetadataDefinition, version: string, topics: readonly string[]) =>
    (await definition.protocol({ version })({ topics, allowAutoTopicCreation: false }).request.encode()).buffer;

  it.each(Metadata.versions.filter((version) => version !== '0'))('asks for no topic in version %s, where kafkajs asks for every topic', async (version) => {
    const everyTopic = await bytes(Metadata, version, []);
    expect(everyTopic.readInt32BE(0)).toBe(-1);
    const none = await bytes(patched, version, NO_TOPICS);
    expect(none.readInt32BE(0)).toBe(0);
    expect(none.subarray(4)).toEqual(everyTopic.subarray(4));
  });

  it.each(Metadata.versions)('writes what kafkajs writes for a list of topics, and for an empty list, in version %s', async (version) => {
    for (const topics of [['deposit', 'balance-table'], []]) expect(await bytes(patched, version, topics)).toEqual(await bytes(Metadata, version, topics));
  });

  it('leaves version 0 as kafkajs writes it: there, an empty list means every topic', async () => {
    expect(await bytes(patched, '0', NO_TOPICS)).toEqual(await bytes(Metadata, '0', []));
  });
});

describe(rememberingTransactionCoordinators.name, () => {
  /** A transaction coordinator that counts the requests it answers, and fails them while `failing`. */
  const coordinator = () => ({
    connected: true,
    failing: false,
    requests: [] as string[],
    isConnected(): boolean {
      return this.connected;
    },
    async answer(name: string): Promise<object> {
      this.requests.push(name);
      if (this.failing) throw createErrorFromCode(16); // NOT_COORDINATOR
      return { producerId: '42', producerEpoch: 0 };
    },
    initProducerId() {
      return this.answer('InitProducerId');
    },
    addPartitionsToTxn() {
      return this.answer('AddPartitionsToTxn');
    },
    endTxn() {
      return this.answer('EndTxn');
    },
  });
  type Coordinator = ReturnType<typeof coordinator>;

  /** kafkajs's own transaction manager, over a cluster that names `named()` as the coordinator and counts how often it is asked. */
  const transactions = (named: () => Coordinator, patched: boolean) => {
    const cluster = {
      finds: 0,
      retry: { retries: 0 },
      refreshMetadataIfNecessary: async () => undefined,
      async findGroupCoordinator(this: { finds: number }, _request: { groupId: string; coordinatorType?: number }): Promise<Coordinator> {
        this.finds++;
        return named();
      },
    };
    if (patched) cluster.findGroupCoordinator = rememberingTransactionCoordinators(cluster.findGroupCoordinator as never) as never;
    const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const manager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'balance-0-5' });
    const commitOne = async () => {
      manager.beginTransaction();
      await manager.addPartitionsToTransaction([{ topic: 'balance-table', partitions: [{ partition: 0 }] }]);
      await manager.commit();
    };
    return { cluster, manager, commitOne };
  };

  it('asks where the coordinator is once, not before every AddPartitionsToTxn and EndTxn as kafkajs does', async () => {
    const [known, knownToKafkajs] = [coordinator(), coordinator()];
    const patched = transactions(() => known, true);
    const kafkajs = transactions(() => knownToKafkajs, false);
    for (const { manager, commitOne } of [patched, kafkajs]) {
      await manager.initProducerId();
      for (let i = 0; i < 3; i++) await commitOne();
    }

    expect(patched.cluster.finds).toBe(1);
    expect(kafkajs.cluster.finds).toBe(7);
    expect(known.requests).toEqual(knownToKafkajs.requests);
  });

  /** A producer whose coordinator became `what`, after which the cluster names another one. */
  const afterCoordinatorChange = async (what: (old: Coordinator) => void) => {
    const [old, now] = [coordinator(), coordinator()];
    let named = old;
    const { cluster, manager, commitOne } = transactions(() => named, true);
    await manager.initProducerId();
    what(old);
    named = now;
    return { old, now, cluster, manager, commitOne };
  };

  it('asks again once a request to the coordinator failed, and sends the next ones to the coordinator named then', async () => {
    const { old, now, cluster, manager, commitOne } = await afterCoordinatorChange((moved) => (moved.failing = true));
    await expect(commitOne()).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
    await manager.abort();
    await commitOne();

    expect(old.requests).toEqual(['InitProducerId', 'AddPartitionsToTxn']);
    expect(now.requests).toEqual(['AddPartitionsToTxn', 'EndTxn']);
    expect(cluster.finds).toBe(2);
  });

  it('asks again once the connection to the coordinator is lost', async () => {
    const { old, now, cluster, commitOne } = await afterCoordinatorChange((lost) => (lost.connected = false));
    await commitOne();

    expect(old.requests).toEqual(['InitProducerId']);
    expect(now.requests).toEqual(['AddPartitionsToTxn', 'EndTxn']);
    expect(cluster.finds).toBe(2);
  });

  it("leaves a consumer group's coordinator to kafkajs", async () => {
    const broker = coordinator();
    const cluster = { finds: 0, findGroupCoordinator: async (): Promise<Coordinator> => (cluster.finds++, broker) };
    const find = rememberingTransactionCoordinators(cluster.findGroupCoordinator);
    await find.call(cluster, { groupId: 'balance' });
    await find.call(cluster, { groupId: 'balance', coordinatorType: 0 });

    expect(cluster.finds).toBe(2);
  });
});

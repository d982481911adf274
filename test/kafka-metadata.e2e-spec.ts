import { createRequire } from 'node:module';
import { type KafkaMetadataDefinition, askingForNoTopics, refreshingNoTopics } from '../src/streams/kafkajs-cluster.js';
import { brokers, eventually, uniquePrefix } from './support/kafka.js';

// kafkajs as CommonJS, as the built service loads it. Jest runs the core as ES modules, where
// the patches are not installed, so this test installs the two it is about and takes them out.
const load = createRequire(`${process.cwd()}/package.json`);
const { Kafka, logLevel } = load('kafkajs');
const BrokerPool = load('kafkajs/src/cluster/brokerPool.js');
const Broker = load('kafkajs/src/broker/index.js');
const Metadata = load('kafkajs/src/protocol/requests/metadata/index.js') as KafkaMetadataDefinition;

interface MetadataAnswer {
  asked: number;
  topics: number;
}

/**
 * What a client with no topics of its own asks the broker for when it connects: a transactional
 * producer of the processors, which learns its topics only when it first sends.
 */
describe('metadata asked for by a client without topics of its own, on a real broker', () => {
  const prefix = uniquePrefix('metadata');
  const kafka = new Kafka({ brokers: brokers(), clientId: 'e2e-metadata', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const answers: MetadataAnswer[] = [];
  const originals = { metadata: Broker.prototype.metadata, refreshMetadata: BrokerPool.prototype.refreshMetadata, protocol: Metadata.protocol };

  beforeAll(async () => {
    Broker.prototype.metadata = async function (this: unknown, topics: string[] = []) {
      const answer = await originals.metadata.call(this, topics);
      answers.push({ asked: topics.length, topics: answer.topicMetadata.length });
      return answer;
    };
    await admin.connect();
    await admin.createTopics({ topics: Array.from({ length: 20 }, (_, i) => ({ topic: `${prefix}t${i}`, numPartitions: 1 })) });
  });

  afterAll(async () => {
    Broker.prototype.metadata = originals.metadata;
    BrokerPool.prototype.refreshMetadata = originals.refreshMetadata;
    Metadata.protocol = originals.protocol;
    await admin.disconnect();
  });

  /** Connects a transactional producer, sends one record in a transaction, and says what its metadata answers held. */
  async function connectAndSend(name: string): Promise<MetadataAnswer[]> {
    const producer = kafka.producer({ transactionalId: `${prefix}${name}`, idempotent: true, maxInFlightRequests: 1 });
    answers.length = 0;
    await producer.connect();
    const onConnect = answers.splice(0);
    const transaction = await producer.transaction();
    await transaction.send({ topic: `${prefix}t0`, messages: [{ key: name, value: name }] });
    await transaction.commit();
    await producer.disconnect();
    return onConnect;
  }

  it('gets every topic of the cluster from kafkajs as it is, and none with the patches, which still send and commit', async () => {
    const unpatched = await connectAndSend('unpatched');
    expect(unpatched.some(({ asked, topics }) => asked === 0 && topics >= 20)).toBe(true);

    BrokerPool.prototype.refreshMetadata = refreshingNoTopics(originals.refreshMetadata);
    askingForNoTopics(Metadata);
    const patched = await connectAndSend('patched');
    expect(patched.length).toBeGreaterThan(0);
    expect(patched.every(({ asked, topics }) => asked === 0 && topics === 0)).toBe(true);

    // Two records and their two commit markers. Kafka answers a commit before it writes the
    // transaction's markers, so the last one may still be on its way: its end (the last stable
    // offset) reaches 4 once it is written.
    const end = async () => Number((await admin.fetchTopicOffsets(`${prefix}t0`))[0].high);
    await eventually('both transactions committed, markers written', async () => (await end()) >= 4, 10_000);
    expect(await end()).toBe(4);
    // Listing the topics still lists them all.
    expect(await admin.listTopics()).toEqual(expect.arrayContaining(Array.from({ length: 20 }, (_, i) => `${prefix}t${i}`)));
  });
});

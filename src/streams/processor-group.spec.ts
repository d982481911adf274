import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { Logger } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { defineGroup } from './group.js';
import type { KafkaConnection } from './kafka-client.js';
import { ProcessorGroup } from './processor-group.js';
import { streamTopic, tableTopic } from './topics.js';

const numbers = streamTopic('numbers', Int64ValueSchema);
const sumGroup = defineGroup({ name: 'sum', inputs: [numbers], table: tableTopic('sums', Int64ValueSchema) });

type Listener = (event: { payload: unknown }) => void;

/** A kafkajs consumer whose broker can be away: connecting then fails, as kafkajs's does after its retries. */
class FakeConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', END_BATCH_PROCESS: 'consumer.end_batch_process', CRASH: 'consumer.crash' };
  private readonly listeners = new Map<string, Listener>();

  constructor(private readonly broker: { up: boolean; connects: number }) {}

  on(event: string, listener: Listener): void {
    this.listeners.set(event, listener);
  }

  async connect(): Promise<void> {
    this.broker.connects++;
    if (!this.broker.up) throw new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
  }

  async subscribe(): Promise<void> {}

  async run(): Promise<void> {
    this.listeners.get(this.events.GROUP_JOIN)?.({ payload: { memberId: 'member-1', memberAssignment: { numbers: [] } } });
  }

  async disconnect(): Promise<void> {}

  async commitOffsets(): Promise<void> {}

  /** kafkajs giving up on the consumer: a crash it does not restart from. */
  crash(): void {
    this.listeners.get(this.events.CRASH)?.({ payload: { error: new Error('Failed to find group coordinator'), restart: false } });
  }
}

describe(ProcessorGroup.name, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'processor-group-'));
  const broker = { up: true, connects: 0 };
  const consumers: FakeConsumer[] = [];
  const kafka = {
    consumer: () => {
      const consumer = new FakeConsumer(broker);
      consumers.push(consumer);
      return consumer;
    },
  } as unknown as Kafka;
  const connection: KafkaConnection = { brokers: ['127.0.0.1:9092'], clientId: 'test', topicPrefix: '', partitions: 1, replicationFactor: 1, sessionTimeoutMs: 10_000 };
  const sut = new ProcessorGroup(sumGroup, new Map(), { kafka, ends: { endsOf: async () => [] }, connection, dataDir, partitions: () => 1, restartDelayMs: 20 });

  // The crash and the failed attempts are logged; here they are expected.
  beforeAll(() => Logger.overrideLogger(false));

  afterAll(async () => {
    await sut.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts again once the broker is back, however many attempts fail while it is away', async () => {
    await sut.start();
    expect(sut.status().running).toBe(true);

    broker.up = false;
    consumers.at(-1)!.crash();
    expect(sut.status().running).toBe(false);
    const deadline = Date.now() + 5000;
    while (broker.connects < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sut.status().running).toBe(false);

    broker.up = true;
    while (!sut.status().running && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sut.status().running).toBe(true);
    expect(broker.connects).toBeGreaterThanOrEqual(5);
  });
});

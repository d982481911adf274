import { Logger } from '@nestjs/common';
import type { Kafka, RecordMetadata } from 'kafkajs';
import { type OutgoingRecord, ProduceError, ReliableProducer } from './producer.js';

/** A kafkajs client whose producer answers every send with `metadata`. */
function kafkaAnswering(metadata: RecordMetadata[]): Kafka {
  const producer = { connect: async () => undefined, disconnect: async () => undefined, sendBatch: async () => metadata };
  return { producer: () => producer } as unknown as Kafka;
}

const record = (topic: string, partition: number): OutgoingRecord => ({ topic, partition, key: 'k', value: Buffer.from('v') });
const ack = (topicName: string, partition: number, baseOffset: string): RecordMetadata => ({ topicName, partition, baseOffset, errorCode: 0 });

describe(ReliableProducer.name, () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  it('answers each partition written with its first offset and how many records it took', async () => {
    const sut = new ReliableProducer(kafkaAnswering([ack('a', 0, '40'), ack('a', 1, '7'), ack('b', 0, '0')]), 'test');

    const acks = await sut.send([record('a', 0), record('b', 0), record('a', 0), record('a', 1), record('a', 0)]);

    expect(acks).toEqual([
      { topic: 'a', partition: 0, baseOffset: 40, count: 3 },
      { topic: 'a', partition: 1, baseOffset: 7, count: 1 },
      { topic: 'b', partition: 0, baseOffset: 0, count: 1 },
    ]);
  });

  it('fails the send when Kafka acknowledged some partitions and not another', async () => {
    const sut = new ReliableProducer(kafkaAnswering([ack('a', 0, '40')]), 'test');

    const sending = sut.send([record('a', 0), record('a', 2), record('b', 0)]);

    await expect(sending).rejects.toThrow(ProduceError);
    await expect(sending).rejects.toThrow('no acknowledgement for a/2, b/0');
  });
});

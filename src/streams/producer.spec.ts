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

  it('sends at most what a broker takes in one request, and acknowledges the records of each request apart', async () => {
    // A broker of this client: offsets from 0 per partition, one acknowledgement per partition and request.
    const ends = new Map<number, number>();
    const requests: number[] = [];
    const producer = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string; messages: Array<{ partition: number }> }> }) => {
        const { topic, messages } = topicMessages[0];
        requests.push(messages.length);
        const baseOffset = ends.get(messages[0].partition) ?? 0;
        ends.set(messages[0].partition, baseOffset + messages.length);
        return [ack(topic, messages[0].partition, String(baseOffset))];
      },
    };
    const sut = new ReliableProducer({ producer: () => producer } as unknown as Kafka, 'test');
    const large = (): OutgoingRecord => ({ topic: 'a', partition: 3, key: 'k', value: Buffer.alloc(200 * 1024) });

    const acks = await sut.send([large(), large(), large(), large(), large(), large()]);

    expect(requests).toEqual([4, 2]);
    expect(acks).toEqual([
      { topic: 'a', partition: 3, baseOffset: 0, count: 4 },
      { topic: 'a', partition: 3, baseOffset: 4, count: 2 },
    ]);
  });

  it('fails the send when Kafka acknowledged some partitions and not another', async () => {
    const sut = new ReliableProducer(kafkaAnswering([ack('a', 0, '40')]), 'test');

    const sending = sut.send([record('a', 0), record('a', 2), record('b', 0)]);

    await expect(sending).rejects.toThrow(ProduceError);
    await expect(sending).rejects.toThrow('no acknowledgement for a/2, b/0');
  });
});

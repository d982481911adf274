import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Kafka, logLevel } from 'kafkajs';
import { type Deposit, DepositSchema } from '../src/gen/depositaja/v1/deposit_pb.js';
import { createTopics } from './support/kafka.js';

describe('a protobuf Deposit through the real broker', () => {
  const kafka = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
  const topic = `roundtrip-${randomUUID()}`;

  it('comes back field for field', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, [{ topic, numPartitions: 1 }]);
    await admin.disconnect();

    const sent = create(DepositSchema, {
      depositId: randomUUID(),
      walletId: '0x1a35:wallet.test-1',
      amountMinor: 9_223_372_036_854_775_807n, // int64 max survives exactly
      acceptedAtMs: 1_796_000_000_123n,
      idempotencyKey: 'key-1',
      requestDigest: new Uint8Array([0, 1, 2, 254, 255]),
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: sent.walletId, value: Buffer.from(toBinary(DepositSchema, sent)) }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `roundtrip-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<{ key: string; value: Deposit }>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) =>
          resolve({ key: message.key!.toString(), value: fromBinary(DepositSchema, message.value!) }),
      });
    });
    await consumer.disconnect();

    expect(received.key).toBe('0x1a35:wallet.test-1');
    expect(received.value.depositId).toBe(sent.depositId);
    expect(received.value.walletId).toBe('0x1a35:wallet.test-1');
    expect(received.value.amountMinor).toBe(9_223_372_036_854_775_807n);
    expect(received.value.acceptedAtMs).toBe(1_796_000_000_123n);
    expect(received.value.idempotencyKey).toBe('key-1');
    expect([...received.value.requestDigest]).toEqual([0, 1, 2, 254, 255]);
  }, 60_000);
});

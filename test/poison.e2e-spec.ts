import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import type { Admin, Producer } from 'kafkajs';
import { newDeposit } from '../src/contracts/deposit-event.js';
import { DepositSchema } from '../src/gen/depositaja/v1/deposit_pb.js';
import { FlagEventSchema, FlagSource } from '../src/gen/depositaja/v1/flag_pb.js';
import { eventually, testKafka, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

/**
 * Poison on every input topic: garbage bytes, a valid protobuf of the wrong type, an empty value
 * and a missing key, on `deposit` (read by groups balance and threshold) and on `flag_wallet`
 * (threshold and flagger). Each lands in the topic's dead-letter topic once per group that
 * reads it, the metric counts it, and the records after it are processed.
 */
describe('poison records', () => {
  const kafka = testKafka();
  const prefix = uniquePrefix('poison');
  const data = scratchDir('poison');
  let sut: Service;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    sut = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'a') });
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    await sut?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const poisons = (walletId: string, wrongType: Uint8Array) => [
    { key: walletId, value: Buffer.from([0xff, 0xff, 0xff, 0x01]) },
    { key: walletId, value: Buffer.from(wrongType) },
    { key: walletId, value: Buffer.alloc(0) },
    { key: null, value: Buffer.from(wrongType) },
  ];

  async function deadLetters(topic: string, expected: number): Promise<Array<{ group: string; error: string; origin: string }>> {
    const letters: Array<{ group: string; error: string; origin: string }> = [];
    const consumer = kafka.consumer({ groupId: `${prefix}reader-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const header = (name: string) => String(message.headers?.[name] ?? '');
        letters.push({ group: header('dlq.group'), error: header('dlq.error'), origin: `${header('dlq.topic')}/${header('dlq.partition')}@${header('dlq.offset')}` });
      },
    });
    try {
      await eventually(`${expected} dead letters on ${topic}`, () => letters.length >= expected, 30_000);
    } finally {
      await consumer.disconnect();
    }
    return letters;
  }

  it('sends each poison deposit to deposit.dlq once per group, and counts the deposits after it', async () => {
    const walletId = `p-${randomUUID().slice(0, 8)}`;
    const flagEvent = toBinary(FlagEventSchema, create(FlagEventSchema, { walletId, flagged: true, source: FlagSource.MANUAL, atMs: 1n }));
    await producer.send({ topic: `${prefix}deposit`, acks: -1, messages: poisons(walletId, flagEvent) });
    const after = await sut.deposit(walletId, 10);
    const check = await sut.check(walletId, `?token=${after.body.token}`);

    expect(check.body).toMatchObject({ balance: 10, deposit_count: 1 });
    const letters = await deadLetters(`${prefix}deposit.dlq`, 8);
    expect(letters.map((letter) => letter.group).sort()).toEqual([...Array(4).fill('balance'), ...Array(4).fill('threshold')]);
    expect(letters.every((letter) => letter.error.length > 0 && letter.origin.startsWith(`${prefix}deposit/`))).toBe(true);
    expect(letters.some((letter) => letter.error === 'record has no key')).toBe(true);
  }, 90_000);

  it('sends each poison flag event to flag_wallet.dlq once per group, and applies the flags after it', async () => {
    const walletId = `q-${randomUUID().slice(0, 8)}`;
    const deposit = toBinary(DepositSchema, newDeposit(walletId, 100n, Date.now()));
    await producer.send({ topic: `${prefix}flag_wallet`, acks: -1, messages: poisons(walletId, deposit) });
    const letters = await deadLetters(`${prefix}flag_wallet.dlq`, 8);

    expect(letters.map((letter) => letter.group).sort()).toEqual([...Array(4).fill('flagger'), ...Array(4).fill('threshold')]);
    // The flag stream still flows: a big deposit flags the wallet.
    const big = await sut.deposit(walletId, 10_000.01);
    expect((await sut.check(walletId, `?token=${big.body.token}`)).body).toMatchObject({ above_threshold: true, flag_source: 'auto' });
  }, 90_000);

  it('counts dead letters in the metrics', async () => {
    const metrics = (await sut.request('GET', '/metrics')).body as string;
    const total = (group: string) =>
      metrics
        .split('\n')
        .filter((line) => line.startsWith(`stream_group_dead_letters{group="${group}"`))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);

    expect(total('balance')).toBe(4);
    expect(total('threshold')).toBe(8);
    expect(total('flagger')).toBe(4);
  });
});

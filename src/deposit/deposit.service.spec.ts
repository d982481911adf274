import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { depositIdFor, requestDigest } from '../contracts/deposit-event.js';
import { idempotencyKey } from '../contracts/deposit-keys.js';
import { decodeReadToken } from '../contracts/read-token.js';
import { topics } from '../contracts/topic-map.js';
import { type DepositRecord, DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import { DepositSchema } from '../gen/depositaja/v1/deposit_pb.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { Emitter, StreamsRuntime } from '../streams/index.js';
import { ProduceError } from '../streams/producer.js';
import { InMemoryProducer, inMemoryEmitter } from '../streams/testing/in-memory-producer.js';
import { ViewFeed } from '../streams/testing/view-feed.js';
import { type AcceptedDeposit, DepositService, DepositUnavailableError, IdempotencyConflictError } from './deposit.service.js';

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

describe(DepositService.name, () => {
  // Views log as they start: keep only what tells why a test failed.
  beforeAll(() => Logger.overrideLogger(['error', 'warn', 'fatal']));

  let dir: string;
  let deposits: ViewFeed<DepositRecord>;
  let producer: InMemoryProducer;
  let emitter: Emitter;
  let metrics: MetricsService;
  let now: number;
  let sut: DepositService;

  // The view is shared by the tests; each test has wallets of its own.
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deposit-service-'));
    deposits = await ViewFeed.start(topics.balanceDeposits, dir);
  });

  afterAll(async () => {
    await deposits.stop();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    now = T0;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    producer = new InMemoryProducer();
    emitter = inMemoryEmitter(producer, { lingerMs: 1, partitions: 6 });
    // The runtime is read only when metrics are scraped.
    metrics = new MetricsService({} as StreamsRuntime);
    sut = new DepositService(emitter, deposits.view, metrics);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** Accepts a deposit and has Kafka acknowledge it. */
  async function accepted(walletId: string, amountMinor: bigint, key?: string): Promise<AcceptedDeposit> {
    const answer = sut.accept(walletId, amountMinor, key);
    await producer.sendWaiting();
    producer.acknowledge();
    return answer;
  }
  const sent = () => producer.sends.flat().map((record) => ({ key: record.key, deposit: fromBinary(DepositSchema, record.value!) }));
  const acceptedCount = async () => (await metrics.depositsAccepted.get()).values[0]?.value;

  it("gets Kafka's producer connected when the service starts, before any deposit", () => {
    sut.onModuleInit();

    expect(producer.prepared).toBe(true);
    expect(producer.sends).toEqual([]);
  });

  it('emits a deposit and answers once Kafka has it, with a token for where it was written', async () => {
    const answer = await accepted('plain', 500n);

    expect(sent()).toEqual([{ key: 'plain', deposit: expect.objectContaining({ walletId: 'plain', amountMinor: 500n, acceptedAtMs: BigInt(T0), depositId: answer.depositId }) }]);
    expect(answer).toMatchObject({ walletId: 'plain', amountMinor: 500n, acceptedAtMs: BigInt(T0), replayed: false });
    expect(decodeReadToken(answer.token)).toEqual({ kind: 'deposit', partition: emitter.partitionOf(topics.deposit, 'plain'), offset: 0 });
    expect(await acceptedCount()).toBe(1);
  });

  it('counts every deposit sent without an Idempotency-Key, even with the same body', async () => {
    const first = await accepted('unkeyed', 500n);
    const second = await accepted('unkeyed', 500n);

    expect(second.depositId).not.toBe(first.depositId);
    expect(sent()).toHaveLength(2);
  });

  it('sends a keyed deposit once while it is in flight, and gives its retries the same answer', async () => {
    const first = sut.accept('inflight', 500n, 'k1');
    const retry = sut.accept('inflight', 500n, 'k1');
    await producer.sendWaiting();
    producer.acknowledge();

    const [original, replayed] = await Promise.all([first, retry]);
    expect(sent()).toHaveLength(1);
    expect(replayed).toEqual({ ...original, replayed: true });
    expect(original.replayed).toBe(false);
    expect(await acceptedCount()).toBe(1);
  });

  it('refuses a retry with another body while the first is in flight', async () => {
    const first = sut.accept('conflict', 500n, 'k1');

    await expect(sut.accept('conflict', 600n, 'k1')).rejects.toThrow(IdempotencyConflictError);
    await producer.sendWaiting();
    producer.acknowledge();
    await expect(first).resolves.toMatchObject({ amountMinor: 500n });
  });

  it('answers a retry from memory once Kafka has the deposit, before the views have counted it', async () => {
    const original = await accepted('remembered', 500n, 'k1');
    now += 30_000;

    await expect(sut.accept('remembered', 500n, 'k1')).resolves.toEqual({ ...original, replayed: true });
    await expect(sut.accept('remembered', 600n, 'k1')).rejects.toThrow(IdempotencyConflictError);
    expect(sent()).toHaveLength(1);
  });

  it('answers a retry of a counted deposit from the views, and refuses one with another body', async () => {
    const depositId = depositIdFor('counted', 'k1');
    await deposits.put(
      idempotencyKey('counted', depositId),
      create(DepositRecordSchema, { depositId, amountMinor: 500n, acceptedAtMs: 123n, seq: 1n, offset: 42n, requestDigest: requestDigest('counted', 500n) }),
    );

    const answer = await sut.accept('counted', 500n, 'k1');

    expect(answer).toMatchObject({ depositId, walletId: 'counted', amountMinor: 500n, acceptedAtMs: 123n, replayed: true });
    expect(decodeReadToken(answer.token)).toEqual({ kind: 'deposit', partition: emitter.partitionOf(topics.deposit, 'counted'), offset: 42 });
    await expect(sut.accept('counted', 600n, 'k1')).rejects.toThrow(IdempotencyConflictError);
    expect(sent()).toHaveLength(0);
  });

  it('says a deposit was not recorded when Kafka certainly did not take it, and sends its retry anew', async () => {
    const first = sut.accept('refused', 500n, 'k1');
    await producer.sendWaiting();
    producer.fail(new ProduceError('broker down', true));
    await expect(first).rejects.toEqual(new DepositUnavailableError('Kafka is unavailable; the deposit was not recorded: retry later', false));

    now += 1000;
    const retry = await accepted('refused', 500n, 'k1');

    expect(retry.replayed).toBe(false);
    expect(sent()).toHaveLength(2);
  });

  it('says the outcome is unknown when Kafka did not confirm the deposit', async () => {
    const first = sut.accept('unknown', 500n, 'k1');
    await producer.sendWaiting();
    producer.fail(new ProduceError('request timed out', false));

    await expect(first).rejects.toMatchObject({ outcomeUnknown: true, message: expect.stringContaining('retry with the same Idempotency-Key') });
  });

  it('forgets an answer a minute after Kafka acknowledged it', async () => {
    await accepted('forgotten', 500n, 'k1');
    now += 60_000;
    await accepted('forgotten', 700n, 'k2');

    const retry = await accepted('forgotten', 500n, 'k1');

    expect(retry.replayed).toBe(false);
    expect(sent()).toHaveLength(3);
  });
});

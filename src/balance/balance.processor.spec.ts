import { newDeposit } from '../contracts/deposit-event.js';
import { historyKey, idempotencyKey } from '../contracts/deposit-keys.js';
import { topics } from '../contracts/topic-map.js';
import type { BalanceState } from '../gen/depositaja/v1/balance_pb.js';
import { StreamsTester } from '../streams/testing/streams-tester.js';
import { balanceGroup } from './balance.group.js';
import { BalanceModule } from './balance.module.js';
import { BalanceProcessor } from './balance.processor.js';

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

describe(BalanceProcessor.name, () => {
  let sut: StreamsTester<BalanceState>;

  beforeEach(async () => {
    sut = await StreamsTester.forModule<BalanceState>(balanceGroup, BalanceModule);
  });

  afterEach(() => sut.close());

  it('sums deposits exactly in minor units, with count, last time and one history entry each', async () => {
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 2000_00n, T0));
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 4000_01n, T0 + 5));
    await sut.feed(topics.deposit, 'w2', newDeposit('w2', 1n, T0 + 1));

    expect(sut.value('w1')).toMatchObject({ balanceMinor: 6000_01n, depositCount: 2n, lastDepositAtMs: BigInt(T0 + 5) });
    expect(sut.value('w2')).toMatchObject({ balanceMinor: 1n, depositCount: 1n });
    expect(sut.storeKeys(topics.balanceDeposits)).toEqual([historyKey('w1', 1n), historyKey('w1', 2n), historyKey('w2', 1n)]);
    expect(sut.storeValue(topics.balanceDeposits, historyKey('w1', 2n))).toMatchObject({ amountMinor: 4000_01n, seq: 2n, offset: 1n });
    // The history is for the API's view: the group keeps none of it.
    expect(sut.keptStoreKeys(topics.balanceDeposits)).toEqual([]);
  });

  it('keeps its table value the same size however many deposits a wallet has', async () => {
    for (let i = 0; i < 200; i++) await sut.feed(topics.deposit, 'w1', newDeposit('w1', 1n, T0 + i));
    const encodedSize = balanceGroup.table.codec.encode(sut.value('w1')!).length;

    expect(sut.value('w1')).toMatchObject({ balanceMinor: 200n, depositCount: 200n });
    expect(encodedSize).toBeLessThan(20);
  });

  it('counts a deposit retried with the same Idempotency-Key once, even when it reaches Kafka twice', async () => {
    const first = newDeposit('w1', 500_00n, T0, 'key-1');
    const retry = newDeposit('w1', 500_00n, T0 + 3000, 'key-1');
    await sut.feed(topics.deposit, 'w1', first);
    await sut.feed(topics.deposit, 'w1', retry);
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 500_00n, T0 + 4000, 'key-2'));

    expect(retry.depositId).toBe(first.depositId);
    expect(sut.value('w1')).toMatchObject({ balanceMinor: 1000_00n, depositCount: 2n });
    const keyed = [idempotencyKey('w1', first.depositId), idempotencyKey('w1', newDeposit('w1', 500_00n, T0 + 4000, 'key-2').depositId)].sort();
    // Published beside the history, where the API answers retries from.
    expect(sut.storeKeys(topics.balanceDeposits)).toEqual(expect.arrayContaining(keyed));
    expect(sut.storeValue(topics.balanceDeposits, idempotencyKey('w1', first.depositId))).toMatchObject({ seq: 1n, acceptedAtMs: BigInt(T0) });
    // What it reads back to spot a retry is all it keeps, in a store apart from the history.
    expect(sut.keptStoreKeys(topics.balanceKeys)).toEqual(keyed);
    expect(sut.storeValue(topics.balanceKeys, idempotencyKey('w1', first.depositId))).toMatchObject({ seq: 1n, acceptedAtMs: BigInt(T0) });
    expect(sut.keptStoreKeys(topics.balanceDeposits)).toEqual([]);
  });

  it('counts a replayed deposit once', async () => {
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 7n, T0));
    await sut.replay();

    expect(sut.value('w1')).toMatchObject({ balanceMinor: 7n, depositCount: 1n });
  });

  it('dead-letters deposits that must never be counted', async () => {
    const zero = newDeposit('w1', 1n, T0);
    zero.amountMinor = 0n;
    await sut.feed(topics.deposit, 'w1', zero);
    await sut.feed(topics.deposit, 'w9', newDeposit('w1', 1n, T0));

    expect(sut.deadLetters().map((letter) => letter.error)).toEqual(['deposit amount 0 is out of range', 'deposit of wallet w1 under key w9']);
    expect(sut.value('w1')).toBeUndefined();
  });
});

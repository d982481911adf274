import { create } from '@bufbuild/protobuf';
import type { AppConfigShape } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { depositIdFor, newDeposit } from '../contracts/deposit-event.js';
import { idempotencyKey } from '../contracts/deposit-keys.js';
import { manualFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import { FlagSource } from '../gen/depositaja/v1/flag_pb.js';
import type { WindowState } from '../gen/depositaja/v1/threshold_pb.js';
import { StreamsTester } from '../streams/testing/streams-tester.js';
import { thresholdGroup } from './threshold.group.js';
import { ThresholdModule } from './threshold.module.js';
import { ThresholdProcessor } from './threshold.processor.js';

const WINDOW_MS = 120_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const config = { threshold: { amountMinor: 10_000_00n, windowMs: WINDOW_MS } } as AppConfigShape;

describe(ThresholdProcessor.name, () => {
  let sut: StreamsTester<WindowState>;

  beforeEach(async () => {
    sut = await StreamsTester.forModule<WindowState>(thresholdGroup, ThresholdModule, { imports: [ConfigModule.forRoot(config)] });
  });

  afterEach(() => sut.close());

  /** Deposits `amountMinor` into wallet w1 at T0 + `atMs`. */
  const deposit = (amountMinor: bigint, atMs: number, wallet = 'w1') =>
    sut.feed(topics.deposit, wallet, newDeposit(wallet, amountMinor, T0 + atMs));
  const flags = () => sut.emitted(topics.flagWallet).map(({ value }) => ({ flagged: value.flagged, source: value.source, atMs: Number(value.atMs) - T0 }));

  it('does not flag deposits summing to exactly the threshold', async () => {
    await deposit(6_000_00n, 0);
    await deposit(4_000_00n, 1000);

    expect(flags()).toEqual([]);
    expect(sut.value('w1')?.flagged).toBe(false);
  });

  it('flags one cent over the threshold, once, at the crossing deposit', async () => {
    await deposit(6_000_00n, 0);
    await deposit(4_000_01n, 1000);

    expect(flags()).toEqual([{ flagged: true, source: FlagSource.AUTO, atMs: 1000 }]);
    expect(sut.value('w1')?.flagged).toBe(true);
    expect(sut.emitted(topics.flagWallet)[0].value.causeOffset).toBe(1n);
  });

  it('does not count deposits exactly one window apart together: the window is (t - W, t]', async () => {
    await deposit(6_000_00n, 0);
    await deposit(4_000_01n, WINDOW_MS);

    expect(flags()).toEqual([]);
  });

  it('counts deposits one millisecond less than a window apart together', async () => {
    await deposit(6_000_00n, 0);
    await deposit(4_000_01n, WINDOW_MS - 1);

    expect(flags()).toEqual([{ flagged: true, source: FlagSource.AUTO, atMs: WINDOW_MS - 1 }]);
  });

  it('adds up many small deposits, and only those inside one window', async () => {
    for (let i = 0; i < 1000; i++) await deposit(10_00n, i * 120); // 10.00 every 120 ms: 10,000.00 within 119.88 s
    expect(flags()).toEqual([]);

    await deposit(1n, 120_000); // (0, 120 s]: the deposit at 0 dropped out, 9,990.01 remain
    await deposit(1n, 120_001);
    expect(flags()).toEqual([]);
    await deposit(9_99n, 120_002); // 9,990.02 + 9.99 = 10,000.01
    expect(flags()).toEqual([{ flagged: true, source: FlagSource.AUTO, atMs: 120_002 }]);
  });

  it('keeps only the current window in its state, and over the threshold only the deposits that keep it over', async () => {
    for (let i = 0; i < 50; i++) await deposit(1_00n, i * 10_000); // one every 10 s
    expect(sut.value('w1')?.entries.length).toBe(12); // (t - 120 s, t] holds 12 of them
    expect(sut.value('w1')?.windowSumMinor).toBe(12_00n);

    await deposit(20_000_00n, 500_000);
    expect(sut.value('w1')?.entries.map((entry) => entry.amountMinor)).toEqual([20_000_00n]);

    for (let i = 1; i <= 1000; i++) await deposit(100_00n, 500_000 + i); // a hot wallet, flagged
    expect(sut.value('w1')?.entries.length).toBe(101); // the newest 101 × 100.00: 10,100.00
    expect(flags()).toHaveLength(1);
  });

  it('is sticky: later deposits under the threshold do not unflag, and no second flag is emitted', async () => {
    await deposit(10_000_01n, 0);
    await deposit(1n, 1000);
    await deposit(50_000_00n, WINDOW_MS * 5);

    expect(flags()).toHaveLength(1);
    expect(sut.value('w1')?.flagged).toBe(true);
  });

  it('after a manual unflag, flags again only on a new window over the threshold', async () => {
    await deposit(10_000_01n, 0);
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));
    expect(sut.value('w1')?.flagged).toBe(false);

    await deposit(1_00n, 6000); // the reviewed 10,000.01 no longer counts
    expect(flags()).toHaveLength(1);
    await deposit(10_000_00n, 7000);
    expect(flags()).toEqual([
      { flagged: true, source: FlagSource.AUTO, atMs: 0 },
      { flagged: true, source: FlagSource.AUTO, atMs: 7000 },
    ]);
  });

  it('flags again when an unflag is processed after deposits accepted after it that cross', async () => {
    await deposit(10_000_01n, 0);
    await deposit(6_000_00n, 7000); // accepted after the unflag below, processed before it
    await deposit(4_000_01n, 8000);
    expect(flags()).toHaveLength(1);

    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));

    expect(flags()).toEqual([
      { flagged: true, source: FlagSource.AUTO, atMs: 0 },
      { flagged: true, source: FlagSource.AUTO, atMs: 8000 },
    ]);
    expect(sut.emitted(topics.flagWallet)[1].value.causeOffset).toBe(2n);
    expect(sut.value('w1')?.flagged).toBe(true);
  });

  it('flags again after a manual flag and unflag that both reach it after the deposits that cross', async () => {
    await deposit(6_000_00n, 7000);
    await deposit(4_000_01n, 8000);
    await deposit(1_00n, 9000);
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', true, T0 + 1000));
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));

    expect(flags()).toEqual([
      { flagged: true, source: FlagSource.AUTO, atMs: 8000 },
      { flagged: true, source: FlagSource.AUTO, atMs: 8000 },
    ]);
  });

  it('does not flag again on an unflag after the crossing, nor when the deposits after the unflag stay under', async () => {
    await deposit(6_000_00n, 1000);
    await deposit(4_000_01n, 2000); // crossed at 2 s, before the unflag: the admin saw it
    await deposit(9_000_00n, 7000); // after the unflag, but 9,000.00 alone stays under
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));

    expect(flags()).toHaveLength(1);
    expect(sut.value('w1')?.flagged).toBe(false);
    expect(sut.value('w1')?.windowSumMinor).toBe(9_000_00n);

    await deposit(1_000_01n, 8000);
    expect(flags().at(-1)).toEqual({ flagged: true, source: FlagSource.AUTO, atMs: 8000 });
  });

  it('ignores deposits accepted before a manual unflag that reach it after the unflag', async () => {
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));
    await deposit(20_000_00n, 4000);

    expect(flags()).toEqual([]);
  });

  it('does not auto-flag a wallet an admin flagged', async () => {
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', true, T0));
    await deposit(20_000_00n, 1000);

    expect(flags()).toEqual([]);
    expect(sut.value('w1')?.flagged).toBe(true);
  });

  it('evaluates a late deposit against every window that contains it', async () => {
    await deposit(6_000_00n, 10_000);
    await deposit(1_00n, 200_000); // the window moves on: the 6,000 drops out of the state
    await deposit(4_000_01n, 9_000); // late, and far: no retained deposit shares a window with it
    expect(flags()).toEqual([]);

    await deposit(6_000_00n, 250_000);
    await deposit(4_000_01n, 240_000); // late, within the window of the deposit at 250 s
    expect(flags()).toEqual([{ flagged: true, source: FlagSource.AUTO, atMs: 240_000 }]);
  });

  it('counts a deposit that reached Kafka twice under one Idempotency-Key once', async () => {
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0, 'order-1'));
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0 + 3000, 'order-1'));

    expect(flags()).toEqual([]);
    expect(sut.value('w1')?.windowSumMinor).toBe(6_000_00n);
  });

  it('still recognises a retry of a keyed deposit that the window no longer holds for its sum', async () => {
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0, 'order-1'));
    await deposit(6_000_00n, 1000);
    await deposit(6_000_00n, 2000); // over: the first deposit is no longer needed to stay over
    expect(sut.value('w1')?.entries).toHaveLength(2);
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 2500));

    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0 + 3000, 'order-1'));
    await deposit(4_000_01n, 4000);

    expect(flags()).toHaveLength(1);
    expect(sut.value('w1')?.windowSumMinor).toBe(4_000_01n);
  });

  it('recognises a retry of a keyed deposit that reaches it after the first attempt left the window', async () => {
    // The client got no answer (the API died, or the broker restarted), so it retried after the
    // window moved on; the API saw no trace of the first attempt and sent it again, later.
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0, 'order-1'));
    await deposit(1_00n, WINDOW_MS + 10_000);
    await sut.feed(topics.deposit, 'w1', newDeposit('w1', 6_000_00n, T0 + WINDOW_MS + 11_000, 'order-1'));
    await deposit(4_000_01n, WINDOW_MS + 12_000);

    expect(flags()).toEqual([]);
    expect(sut.value('w1')?.windowSumMinor).toBe(4_001_01n);
    expect(sut.keptStoreKeys(topics.thresholdKeys)).toEqual([idempotencyKey('w1', depositIdFor('w1', 'order-1'))]);
  });

  it('counts a replayed deposit once', async () => {
    await deposit(6_000_00n, 0);
    await sut.replay();
    await deposit(4_000_00n, 1000);

    expect(flags()).toEqual([]);
    expect(sut.value('w1')?.windowSumMinor).toBe(10_000_00n);
  });

  it('dead-letters a deposit whose wallet does not match its key', async () => {
    await sut.feed(topics.deposit, 'w1', newDeposit('w2', 1n, T0));

    expect(sut.deadLetters()).toEqual([expect.objectContaining({ error: 'deposit of wallet w2 under key w1' })]);
    expect(sut.value('w1')).toBeUndefined();
    expect(create).toBeDefined();
  });
});

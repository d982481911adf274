import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Logger, UnprocessableEntityException } from '@nestjs/common';
import { historyKey } from '../contracts/deposit-keys.js';
import type { ReadToken } from '../contracts/read-token.js';
import { topics } from '../contracts/topic-map.js';
import { type BalanceState, BalanceStateSchema, type DepositRecord, DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import { type FlagValue, FlagValueSchema } from '../gen/depositaja/v1/flag_pb.js';
import { type WindowState, WindowStateSchema } from '../gen/depositaja/v1/threshold_pb.js';
import type { Emitter } from '../streams/index.js';
import { InMemoryProducer, inMemoryEmitter } from '../streams/testing/in-memory-producer.js';
import { ViewFeed } from '../streams/testing/view-feed.js';
import { NotVisibleYetError, WalletService } from './wallet.service.js';

/** Whether `promise` has settled, once what is already queued has run. */
const settled = (promise: Promise<unknown>) =>
  Promise.race([promise.then(() => 'resolved', () => 'rejected'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);

describe(WalletService.name, () => {
  // Views log as they start: keep only what tells why a test failed.
  beforeAll(() => Logger.overrideLogger(['error', 'warn', 'fatal']));

  let dir: string;
  let balances: ViewFeed<BalanceState>;
  let flags: ViewFeed<FlagValue>;
  let windows: ViewFeed<WindowState>;
  let deposits: ViewFeed<DepositRecord>;
  let emitter: Emitter;
  let sut: WalletService;

  // The views are shared by the tests; each test has wallets of its own.
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wallet-service-'));
    [balances, flags, windows, deposits] = await Promise.all([
      ViewFeed.start(topics.balanceTable, dir),
      ViewFeed.start(topics.flaggerTable, dir),
      ViewFeed.start(topics.thresholdTable, dir),
      ViewFeed.start(topics.balanceDeposits, dir),
    ]);
    emitter = inMemoryEmitter(new InMemoryProducer(), { partitions: 6 });
    sut = new WalletService(balances.view, flags.view, windows.view, deposits.view, emitter);
  });

  afterAll(async () => {
    await Promise.all([balances, flags, windows, deposits].map((feed) => feed.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  const depositToken = (walletId: string, offset: number): ReadToken => ({ kind: 'deposit', partition: emitter.partitionOf(topics.deposit, walletId), offset });
  const balanced = (walletId: string, offset: number) => balances.put(walletId, create(BalanceStateSchema, { balanceMinor: 1n, depositCount: 1n }), { deposit: offset });
  const historied = (walletId: string) => deposits.put(historyKey(walletId, 1n), create(DepositRecordSchema, { amountMinor: 1n, seq: 1n }));
  /** The balance processor's outcome of a wallet's first deposit: its balance and its history entry. */
  const counted = async (walletId: string, offset: number) => {
    await historied(walletId);
    await balanced(walletId, offset);
  };
  const windowed = (walletId: string, offset: number, flagCauseOffset?: bigint) =>
    windows.put(walletId, create(WindowStateSchema, { flagged: flagCauseOffset !== undefined, flagCauseOffset }), { deposit: offset });

  describe('waitFor', () => {
    it('returns at once when the balance and threshold views include the deposit', async () => {
      await counted('now', 5);
      await windowed('now', 7);

      await expect(sut.waitFor('now', depositToken('now', 5), 1000)).resolves.toBeUndefined();
    });

    it('waits until the balance and the threshold views both include the deposit', async () => {
      await counted('both', 4);
      const waiting = sut.waitFor('both', depositToken('both', 5), 5000);

      await counted('both', 5);
      expect(await settled(waiting)).toBe('pending');

      await windowed('both', 5);
      expect(await settled(waiting)).toBe('resolved');
    });

    it("waits until the history view has the deposit's entry, which another reader brings", async () => {
      await balanced('history', 2);
      await windowed('history', 2);
      const waiting = sut.waitFor('history', depositToken('history', 2), 5000);
      expect(await settled(waiting)).toBe('pending');

      await historied('history');
      expect(await settled(waiting)).toBe('resolved');
    });

    it('waits, when the deposit flagged the wallet, until the flag view has the flag', async () => {
      await counted('flagged', 3);
      await windowed('flagged', 3, 3n);
      const waiting = sut.waitFor('flagged', depositToken('flagged', 3), 5000);

      await flags.put('flagged', create(FlagValueSchema, { flagged: true, autoCauseOffset: 2n }));
      expect(await settled(waiting)).toBe('pending');

      await flags.put('flagged', create(FlagValueSchema, { flagged: true, autoCauseOffset: 3n }));
      expect(await settled(waiting)).toBe('resolved');
    });

    it('waits, when the flagger has applied a flag event the threshold view has not, until the window has it and any flag it brings', async () => {
      // A manual flag, then an unflag the flagger has applied: the threshold processor counted the
      // deposits after it while the wallet was still flagged, and flags once the unflag arrives.
      await counted('unflagged', 6);
      await flags.put('unflagged', create(FlagValueSchema, { flagged: false }), { flag_wallet: 9 });
      await windows.put('unflagged', create(WindowStateSchema, { flagged: true }), { deposit: 6, flag_wallet: 8 });
      const waiting = sut.waitFor('unflagged', depositToken('unflagged', 6), 5000);
      expect(await settled(waiting)).toBe('pending');

      await windows.put('unflagged', create(WindowStateSchema, { flagged: true, flagCauseOffset: 6n }), { deposit: 6, flag_wallet: 9 });
      expect(await settled(waiting)).toBe('pending');

      await flags.put('unflagged', create(FlagValueSchema, { flagged: true, autoCauseOffset: 6n }), { flag_wallet: 10 });
      expect(await settled(waiting)).toBe('resolved');
    });

    it('waits for a flag event until the flag view includes it', async () => {
      const token: ReadToken = { kind: 'flag', partition: emitter.partitionOf(topics.flagWallet, 'manual'), offset: 8 };
      const waiting = sut.waitFor('manual', token, 5000);

      await flags.put('manual', create(FlagValueSchema, { flagged: true }), { flag_wallet: 8 });

      expect(await settled(waiting)).toBe('resolved');
    });

    it('answers NotVisibleYetError when the views do not get there in time', async () => {
      await counted('slow', 1);

      await expect(sut.waitFor('slow', depositToken('slow', 2), 20)).rejects.toThrow(new NotVisibleYetError('the event is not visible yet after 20 ms; retry'));
    });

    it("refuses a token from another wallet's partition", async () => {
      const token = depositToken('other', 0);
      token.partition = (token.partition + 1) % 6;

      await expect(sut.waitFor('other', token, 1000)).rejects.toThrow(UnprocessableEntityException);
    });
  });

  it('lists counted deposits newest first, a page at a time', async () => {
    for (const seq of [1n, 2n, 3n]) await deposits.put(historyKey('paged', seq), create(DepositRecordSchema, { amountMinor: seq * 100n }));
    await deposits.put(historyKey('paged-too', 1n), create(DepositRecordSchema, { amountMinor: 1n }));

    const first = await sut.history('paged', 2);
    const second = await sut.history('paged', 2, first.deposits.at(-1)!.seq);

    expect(first.deposits.map(({ seq, amountMinor }) => [seq, amountMinor])).toEqual([[3n, 300n], [2n, 200n]]);
    expect(first.more).toBe(true);
    expect(second.deposits.map(({ seq }) => seq)).toEqual([1n]);
    expect(second.more).toBe(false);
  });
});

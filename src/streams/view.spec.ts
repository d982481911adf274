import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { type Sum, sumTopics } from '../../test/apps/sum-group.js';
import { LocalStore } from './state-store.js';
import { ViewFeed } from './testing/view-feed.js';
import { View, type ViewEntry, ViewTimeoutError } from './view.js';

const sum = (n: number): Sum => ({ sum: String(n), count: 1 });

/** Whether `promise` has settled, once what is already queued has run. */
const settled = (promise: Promise<unknown>) =>
  Promise.race([promise.then(() => 'resolved', () => 'rejected'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);

describe(View.name, () => {
  // Views log as they start: keep only what tells why a test failed.
  beforeAll(() => Logger.overrideLogger(['error', 'warn', 'fatal']));

  let dir: string;
  let feed: ViewFeed<Sum>;
  let sut: View<Sum>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'view-'));
    feed = await ViewFeed.start(sumTopics.sums, dir, { changelogEnd: 2 });
    sut = feed.view;
  });

  /** Calls `meanwhile` while each write of the view is batched but not yet in LevelDB, `after` once it is. */
  const aroundWrites = (meanwhile: () => void, after?: () => void) => {
    const store = (sut as unknown as { store: LocalStore }).store;
    const startWrite = store.startWrite.bind(store);
    jest.spyOn(store, 'startWrite').mockImplementation(() => {
      const batch = startWrite();
      const write = batch.write.bind(batch);
      jest.spyOn(batch, 'write').mockImplementation(async (checkpoints) => {
        meanwhile();
        await write(checkpoints);
        after?.();
      });
      return batch;
    });
  };

  afterEach(async () => {
    await feed.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is ready once it has read up to the changelog end it saw at start', async () => {
    const ready = sut.whenReady();
    await feed.put('a', sum(1));

    expect(sut.ready).toBe(false);
    expect(await settled(ready)).toBe('pending');
    expect(sut.status()).toMatchObject({ ready: false, partitions: [{ partition: 0, position: 1, end: 2, lag: 1 }] });

    await feed.put('b', sum(2));

    expect(sut.ready).toBe(true);
    expect(await settled(ready)).toBe('resolved');
    expect(sut.status()).toMatchObject({ ready: true, partitions: [{ partition: 0, position: 2, end: 2, lag: 0 }] });
  });

  it('gives the latest value of a key with the offsets it reflects, and none after a tombstone', async () => {
    await feed.put('a', sum(1), { numbers: 0 });
    await feed.put('a', sum(5), { numbers: 3 });
    await feed.put('b', sum(2));
    await feed.put('b', undefined);

    expect(sut.entry('a')).toEqual({ value: sum(5), applied: { numbers: 3 } });
    expect(sut.get('b')).toBeUndefined();
    expect(sut.recent().map(({ key, offset }) => `${key}@${offset}`)).toEqual(['a@0', 'a@1', 'b@2', 'b@3']);
  });

  it('answers a key read before from memory, and never a value older than the store holds', async () => {
    expect(sut.get('a')).toBeUndefined();
    await feed.put('a', sum(1));
    expect(sut.get('a')).toEqual(sum(1));
    await feed.put('a', sum(7));
    expect(sut.get('a')).toEqual(sum(7));
    expect(sut.get('a')).toBe(sut.get('a'));
    await feed.put('a', undefined);
    expect(sut.get('a')).toBeUndefined();
  });

  it('remembers that a key has no value, until the view writes one', async () => {
    const reads = jest.spyOn((sut as unknown as { store: LocalStore }).store, 'getSync');
    expect(sut.get('b')).toBeUndefined();
    expect(sut.get('b')).toBeUndefined();
    expect(reads).toHaveBeenCalledTimes(1);

    await feed.put('b', sum(3));

    expect(sut.get('b')).toEqual(sum(3));
  });

  it('never answers from memory a value older than the store, even while a write of it lands', async () => {
    await feed.put('a', sum(1), { numbers: 0 });
    expect(sut.get('a')).toEqual(sum(1));
    // LevelDB holds a write before the view hears that it does: a request served in between
    // (a waitFor that sees the new offsets at once, then a read of the value) reads both.
    const seenMeanwhile: Array<[ViewEntry<Sum> | undefined, Sum | undefined]> = [];
    aroundWrites(
      // Batched, not yet in LevelDB: the old value, which must not stay in memory.
      () => seenMeanwhile.push([sut.entry('a'), sut.get('a')]),
      () => seenMeanwhile.push([sut.entry('a'), sut.get('a')]),
    );

    await feed.put('a', sum(7), { numbers: 1 });

    expect(seenMeanwhile).toEqual([
      [{ value: sum(1), applied: { numbers: 0 } }, sum(1)],
      [{ value: sum(7), applied: { numbers: 1 } }, sum(7)],
    ]);
    expect(sut.get('a')).toEqual(sum(7));
  });

  it('keeps nothing in memory that it read while a write landed, though nothing was in memory when the write began', async () => {
    await feed.put('a', sum(1), { numbers: 0 });
    const seenMeanwhile: Array<Sum | undefined> = [];
    aroundWrites(() => seenMeanwhile.push(sut.get('a')));

    await feed.put('a', sum(7), { numbers: 1 });

    expect(seenMeanwhile).toEqual([sum(1)]);
    expect(sut.get('a')).toEqual(sum(7));
    expect(sut.recent().map(({ key, offset }) => [key, offset])).toEqual([
      ['a', 0],
      ['a', 1],
    ]);
  });

  it('reads the values of a prefix in key order or reversed, after a key', async () => {
    for (const key of ['w1/2', 'w1/1', 'w2/1', 'w1/3']) await feed.put(key, sum(Number(key.at(-1))));

    expect(await sut.entries('w1/', { limit: 2 })).toEqual([['w1/1', sum(1)], ['w1/2', sum(2)]]);
    expect(await sut.entries('w1/', { reverse: true, after: 'w1/3' })).toEqual([['w1/2', sum(2)], ['w1/1', sum(1)]]);
  });

  describe('waitFor', () => {
    const reached = (offset: number) => (entry: ViewEntry<Sum> | undefined) => (entry?.applied.numbers ?? -1) >= offset;

    it('answers at once when the key is there already', async () => {
      await feed.put('a', sum(1), { numbers: 4 });

      await expect(sut.waitFor('a', reached(4), 1000)).resolves.toEqual({ value: sum(1), applied: { numbers: 4 } });
    });

    it('answers when a change of the key makes the condition hold, not before', async () => {
      const waiting = sut.waitFor('a', reached(4), 5000);
      const other = sut.waitFor('a', reached(2), 5000);

      await feed.put('b', sum(9), { numbers: 9 });
      await feed.put('a', sum(1), { numbers: 2 });
      expect(await settled(waiting)).toBe('pending');
      expect(await settled(other)).toBe('resolved');

      await feed.put('a', sum(7), { numbers: 4 });
      await expect(waiting).resolves.toEqual({ value: sum(7), applied: { numbers: 4 } });
    });

    it('wakes a reader with the entry the view has just written, without reading it back', async () => {
      const waiting = sut.waitFor('a', reached(4), 5000);
      const store = (sut as unknown as { store: LocalStore }).store;
      const reads = jest.spyOn(store, 'getSync');

      await feed.put('a', sum(7), { numbers: 4 });

      await expect(waiting).resolves.toEqual({ value: sum(7), applied: { numbers: 4 } });
      expect(reads).not.toHaveBeenCalled();
    });

    it('wakes a reader that began waiting while the write of its key was in flight', async () => {
      await feed.put('a', sum(1), { numbers: 0 });
      let waiting: Promise<ViewEntry<Sum> | undefined> | undefined;
      // Not yet in LevelDB: the reader sees the old offsets and waits.
      aroundWrites(() => (waiting = sut.waitFor('a', reached(4), 5000)));

      await feed.put('a', sum(7), { numbers: 4 });

      await expect(waiting).resolves.toEqual({ value: sum(7), applied: { numbers: 4 } });
    });

    it('gives up with a ViewTimeoutError after the time allowed', async () => {
      const waiting = sut.waitFor('a', reached(4), 20);
      await feed.put('a', sum(1), { numbers: 3 });

      await expect(waiting).rejects.toThrow(ViewTimeoutError);
      await expect(waiting).rejects.toThrow('view sums did not reach the awaited state of a within 20 ms');
    });
  });

  it("keeps a write-once table's replica in a store for keys written once, and any other in a plain one", async () => {
    const open = jest.spyOn(LocalStore, 'open');
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      started.push(await ViewFeed.start(sumTopics.entries, join(dir, 'entries')), await ViewFeed.start(sumTopics.sums, join(dir, 'sums')));

      expect(open.mock.calls.map(([path, options]) => [path, options?.keysWrittenOnce])).toEqual([
        [join(dir, 'entries', 'views', 'sum-entries'), true],
        [join(dir, 'sums', 'views', 'sums'), false],
      ]);
    } finally {
      open.mockRestore();
      for (const feed of started) await feed.stop();
    }
  });

  it("asks Kafka for the changelog's ends again when its answer lacks a partition, and follows every partition", async () => {
    const answers = [
      [{ partition: 0, offset: '3' }],
      [
        { partition: 0, offset: '3' },
        { partition: 1, offset: '5' },
      ],
    ];
    const followed: number[][] = [];
    const view = new View(sumTopics.sums, {
      ends: { endsOf: async () => answers.shift() ?? [] },
      connection: { brokers: [], clientId: 'view-spec', topicPrefix: '', partitions: 2, replicationFactor: 1, sessionTimeoutMs: 6000 },
      dataDir: join(dir, 'two-partitions'),
      cacheValues: 0,
      partitions: () => 2,
      openReader: () => ({
        follow: async (from) => void followed.push(from.map(({ partition }) => partition)),
        stop: async () => undefined,
      }),
    });
    try {
      await view.start();

      expect(answers).toEqual([]);
      expect(followed).toEqual([[0, 1]]);
      expect(view.ready).toBe(false);
      expect(view.status().partitions.map(({ partition, end }) => [partition, end])).toEqual([
        [0, 3],
        [1, 5],
      ]);
    } finally {
      await view.stop();
    }
  });
});

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import * as fc from 'fast-check';
import { ChangelogEntry } from './changelog-reader.js';
import { type AppliedOffsets, LocalStore, StoreInUseError, decodeStored, encodeStored, formatApplied, keyspacePrefix, parseAppliedBytes } from './state-store.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

describe(LocalStore.name, () => {
  let dir: string;
  let sut: LocalStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-store-'));
    sut = await LocalStore.open(join(dir, 'store'));
  });

  afterEach(async () => {
    await sut.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Puts (undefined deletes) the values of `list` and writes them with `checkpoints`, in one write. */
  const write = (list: Array<{ space: string; key: string; value: Uint8Array | undefined }>, checkpoints: Array<{ topic: string; partition: number; next: number }>) => {
    const batch = sut.startWrite();
    for (const { space, key, value } of list) batch.put(space, key, value);
    return batch.write(checkpoints);
  };
  const put = (space: string, ...keys: string[]) => write(keys.map((key) => ({ space, key, value: bytes(`${space}:${key}`) })), []);
  const keysOf = async (space: string, prefix: string, options: { reverse?: boolean; limit?: number; from?: string } = {}) =>
    (await sut.entries(space, prefix, options)).map(([key]) => key);

  describe('putEntry', () => {
    const entryOf = (key: string, value: string | null, applied: string | null = null) =>
      new ChangelogEntry().assign(Buffer.from(key), value === null ? null : bytes(value), applied === null ? null : bytes(applied));

    it('writes changes read from a changelog under their keys as text reads them, with their applied offsets or as they are', async () => {
      await put('t', 'gone');
      const batch = sut.startWrite();
      batch.putEntry(keyspacePrefix('t'), entryOf('w1', 'v1', 'deposit=41,flag_wallet=3'), true);
      batch.putEntry(keyspacePrefix('t'), entryOf('clé-ä', 'v2'), true);
      batch.putEntry(keyspacePrefix('s'), entryOf('w1', 'raw'), false);
      // Only values, no checkpoint: the write must still happen.
      await batch.write([]);
      const deletion = sut.startWrite();
      deletion.putEntry(keyspacePrefix('t'), entryOf('gone', null), true);
      await deletion.write([]);

      expect(decodeStored(sut.getSync('t', 'w1')!)).toEqual({ bytes: bytes('v1'), applied: { deposit: 41, flag_wallet: 3 } });
      expect(decodeStored(sut.getSync('t', 'clé-ä')!)).toEqual({ bytes: bytes('v2'), applied: {} });
      expect(text(sut.getSync('s', 'w1'))).toBe('raw');
      expect(sut.getSync('t', 'gone')).toBeUndefined();
      expect(await keysOf('t', '')).toEqual(['clé-ä', 'w1']);
    });

    it('stores what encodeStored lays out, and says what it stored', () => {
      const batch = sut.startWrite();
      const stored = batch.putEntry(keyspacePrefix('t'), entryOf('w1', 'v1', 'deposit=7'), true, true);
      // Bytes of its own: the changes put after it leave it as it was.
      batch.putEntry(keyspacePrefix('t'), entryOf('w3', 'v3', 'deposit=9'), true);

      expect(stored).toEqual(encodeStored(bytes('v1'), bytes('deposit=7')));
      expect(batch.putEntry(keyspacePrefix('t'), entryOf('w2', null), true, true)).toBeUndefined();
    });
  });

  describe('entries', () => {
    beforeEach(async () => {
      await put('h', 'w1/3', 'w1/1', 'w10/1', 'w1/2', 'w0/9', 'w2/1');
      await put('k', 'w1/9');
    });

    it('gives the keys of a prefix in key order, with their values, and only those of its keyspace', async () => {
      expect(await sut.entries('h', 'w1/', {})).toEqual([
        ['w1/1', bytes('h:w1/1')],
        ['w1/2', bytes('h:w1/2')],
        ['w1/3', bytes('h:w1/3')],
      ]);
      expect(await keysOf('k', 'w1/')).toEqual(['w1/9']);
      expect(await keysOf('h', 'w1')).toEqual(['w1/1', 'w1/2', 'w1/3', 'w10/1']);
      expect(await keysOf('h', 'w3/')).toEqual([]);
    });

    it('pages forward from strictly after a key, and backward from strictly before it', async () => {
      expect(await keysOf('h', 'w1/', { limit: 2 })).toEqual(['w1/1', 'w1/2']);
      expect(await keysOf('h', 'w1/', { limit: 2, from: 'w1/2' })).toEqual(['w1/3']);
      expect(await keysOf('h', 'w1/', { reverse: true, limit: 2 })).toEqual(['w1/3', 'w1/2']);
      expect(await keysOf('h', 'w1/', { reverse: true, limit: 2, from: 'w1/2' })).toEqual(['w1/1']);
      expect(await keysOf('h', 'w1/', { reverse: true, from: 'w1/1' })).toEqual([]);
    });

    it('includes keys that go on with characters beyond Latin-1', async () => {
      await put('h', 'w1/\u00ff', 'w1/\u20ac', 'w1/\u{1F600}');

      expect(await keysOf('h', 'w1/')).toEqual(['w1/1', 'w1/2', 'w1/3', 'w1/\u00ff', 'w1/\u20ac', 'w1/\u{1F600}']);
    });
  });

  it('keeps the values, deletions and checkpoints it wrote across a reopen', async () => {
    await put('t', 'a', 'b');
    await write(
      [
        { space: 't', key: 'a', value: undefined },
        { space: 't', key: 'c', value: bytes('new') },
      ],
      [{ topic: 'table', partition: 3, next: 42 }],
    );
    await sut.close();
    sut = await LocalStore.open(join(dir, 'store'));

    expect(text(await sut.get('t', 'a'))).toBeUndefined();
    expect(text(sut.getSync('t', 'b'))).toBe('t:b');
    expect((await sut.getMany('t', ['c', 'd'])).map(text)).toEqual(['new', undefined]);
    expect(sut.checkpoint('table', 3)).toBe(42);
    expect(sut.checkpoint('table', 4)).toBe(0);
  });

  it('holds more writes in memory before writing a table when its keys are written once', async () => {
    // ~3 MiB of values: past the 2 MiB write buffer of a store, within the 8 MiB of a store of write-once keys.
    const fill = async (store: LocalStore) => {
      for (let batch = 0; batch < 6; batch++) {
        const write = store.startWrite();
        for (let i = 0; i < 500; i++) write.put('h', `wallet-${i}/${batch}`, new Uint8Array(1024).fill(batch));
        await write.write([]);
      }
    };
    const tables = async (path: string) => (await readdir(path)).filter((name) => name.endsWith('.ldb')).length;
    const writtenOnce = await LocalStore.open(join(dir, 'written-once'), { keysWrittenOnce: true });
    try {
      await fill(sut);
      await fill(writtenOnce);

      expect(await tables(join(dir, 'store'))).toBeGreaterThan(0);
      expect(await tables(join(dir, 'written-once'))).toBe(0);
    } finally {
      await writtenOnce.close();
    }
  });

  it('starts empty over a store it cannot read, and says why', async () => {
    await put('t', 'a');
    await write([], [{ topic: 'table', partition: 0, next: 7 }]);
    await sut.close();
    await writeFile(join(dir, 'store', 'CURRENT'), 'garbage\n');
    const reasons: string[] = [];

    sut = await LocalStore.open(join(dir, 'store'), { onWipe: (reason) => reasons.push(reason) });

    expect(reasons).toHaveLength(1);
    expect(sut.getSync('t', 'a')).toBeUndefined();
    expect(sut.checkpoint('table', 0)).toBe(0);
  });

  it('refuses a store that is open already, rather than wipe it', async () => {
    await put('t', 'a');

    await expect(LocalStore.open(join(dir, 'store'))).rejects.toThrow(StoreInUseError);
    expect(text(sut.getSync('t', 'a'))).toBe('t:a');
  });

  it("clears one partition's values and checkpoints, keeping the other partitions'", async () => {
    await write(
      [
        { space: '1/t', key: 'a', value: bytes('one') },
        { space: '1/s:h', key: 'a/1', value: bytes('one') },
        { space: '10/t', key: 'a', value: bytes('ten') },
        { space: '2/t', key: 'a', value: bytes('two') },
      ],
      [
        { topic: 'table', partition: 1, next: 7 },
        { topic: 'store', partition: 1, next: 3 },
        { topic: 'table', partition: 2, next: 5 },
      ],
    );
    await sut.clear('1/', ['table', 'store'], 1);

    expect([sut.getSync('1/t', 'a'), sut.getSync('1/s:h', 'a/1')]).toEqual([undefined, undefined]);
    expect([text(sut.getSync('10/t', 'a')), text(sut.getSync('2/t', 'a'))]).toEqual(['ten', 'two']);
    expect([sut.checkpoint('table', 1), sut.checkpoint('store', 1), sut.checkpoint('table', 2)]).toEqual([0, 0, 5]);
    await sut.close();
    sut = await LocalStore.open(join(dir, 'store'));
    expect([sut.checkpoint('table', 1), sut.checkpoint('table', 2)]).toEqual([0, 5]);
  });

  it('reads a store whose tables were written compressed, as releases before 2026-12-05 wrote them', async () => {
    await sut.close();
    const path = join(dir, 'compressed');
    // Enough values, and alike enough, that LevelDB writes tables of Snappy blocks as it goes.
    const old = new ClassicLevel<string, string>(path, { compression: true, writeBufferSize: 64 * 1024 });
    const values = Array.from({ length: 5_000 }, (_, i) => [`t/wallet-${i}`, `balance of wallet-${i} `.repeat(4)] as const);
    for (let i = 0; i < values.length; i += 500) await old.batch(values.slice(i, i + 500).map(([key, value]) => ({ type: 'put' as const, key, value })));
    await old.close();

    sut = await LocalStore.open(path);
    expect(values.every(([key, value]) => text(sut.getSync('t', key.slice(2))) === value)).toBe(true);
  });
});

describe(parseAppliedBytes.name, () => {
  // The reading of the text that the service used before it read the bytes: the reference.
  const parseApplied = (text: string): AppliedOffsets => {
    const applied: AppliedOffsets = {};
    for (const pair of text ? text.split(',') : []) {
      const at = pair.lastIndexOf('=');
      if (at > 0) applied[pair.slice(0, at)] = Number(pair.slice(at + 1));
    }
    return applied;
  };
  const pieces = fc.oneof(
    fc.constantFrom(',', '=', '==', ',,', 'deposit', 'flag_wallet', 'bench-a1-b2-5-deposit', '0', '-1', '+7', ' 12', '1e3', '9007199254740993', '123456789012345', 'é', '\u{10FFFF}'),
    fc.string({ maxLength: 6 }),
    fc.nat().map(String),
  );

  it('reads from bytes what parseApplied reads from their text, whatever the text', () => {
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 12 }), fc.uint8Array({ maxLength: 4 }), (parts, around) => {
        const text = parts.join('');
        const bytes = Buffer.concat([around, Buffer.from(text), around]);
        expect(parseAppliedBytes(bytes, around.length, around.length + Buffer.byteLength(text))).toEqual(parseApplied(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives back the offsets a stored value was written with, and its bytes', () => {
    // Any legal topic name but `__proto__`, which an object literal's assignment does not keep
    // (nor did the text parse before): the service's topics are its own, and none is named so.
    const topic = fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/).filter((name) => name !== '__proto__');
    fc.assert(
      fc.property(fc.dictionary(topic, fc.nat({ max: Number.MAX_SAFE_INTEGER })), fc.uint8Array({ maxLength: 40 }), (applied, value) => {
        const stored = decodeStored(encodeStored(value, Buffer.from(formatApplied(applied))));
        expect(stored.applied).toEqual(applied);
        expect(Buffer.from(stored.bytes)).toEqual(Buffer.from(value));
      }),
      { numRuns: 500 },
    );
  });
});

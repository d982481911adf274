import { rm } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { ChangelogEntry } from './changelog-reader.js';

/** The local store is open in another process. */
export class StoreInUseError extends Error {
  override readonly name = 'StoreInUseError';
}

export interface StoreOptions {
  /** Hears why a store that could not be opened was deleted and created empty. */
  onWipe?: (reason: string) => void;
  /** Its keys are each written once, spread over the whole key space (see WRITTEN_ONCE_LEVEL_OPTIONS). */
  keysWrittenOnce?: boolean;
}

/**
 * A local LevelDB database (classic-level) holding one or more keyspaces (a table, a store)
 * and the checkpoints of the changelog partitions they mirror. Values and checkpoints are
 * written in one atomic LevelDB batch, so after a crash the checkpoint never claims more than
 * the values hold.
 *
 * A processor group opens one for all the partitions it owns (keys start with the partition);
 * a view opens one for its table.
 */
export class LocalStore {
  private constructor(
    readonly path: string,
    private readonly db: ClassicLevel<string, Uint8Array>,
    private readonly checkpointCache: Map<string, number>,
  ) {}

  /**
   * Opens (creating) the database at `path`. A database that cannot be opened (corrupt, or
   * written by an incompatible version) is deleted and created empty: its changelogs rebuild
   * it. `onWipe` hears why.
   */
  static async open(path: string, options: StoreOptions = {}): Promise<LocalStore> {
    const { onWipe, keysWrittenOnce } = options;
    const levelOptions = keysWrittenOnce ? WRITTEN_ONCE_LEVEL_OPTIONS : LEVEL_OPTIONS;
    let db = new ClassicLevel<string, Uint8Array>(path, levelOptions);
    try {
      await db.open();
      const format = await db.get(FORMAT_KEY);
      if (format !== undefined && decoder.decode(format) !== FORMAT) {
        throw new Error(`store format ${decoder.decode(format)}, expected ${FORMAT}`);
      }
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        // Another process has this store open: the same DATA_DIR is in use twice.
        throw new StoreInUseError(`local store ${path} is in use by another process (two instances share one DATA_DIR?)`);
      }
      onWipe?.(`${(error as Error).message}${cause ? `: ${String((cause as Error).message ?? cause)}` : ''}`);
      await db.close().catch(() => undefined);
      await rm(path, { recursive: true, force: true });
      db = new ClassicLevel<string, Uint8Array>(path, levelOptions);
      await db.open();
    }
    await db.put(FORMAT_KEY, encoder.encode(FORMAT));
    const checkpoints = new Map<string, number>();
    for await (const [key, value] of db.iterator({ gte: CHECKPOINT_PREFIX, lt: `${CHECKPOINT_PREFIX}${AFTER_ALL}` })) {
      checkpoints.set(key.slice(CHECKPOINT_PREFIX.length), Number(decoder.decode(value)));
    }
    return new LocalStore(path, db, checkpoints);
  }

  /** The next changelog offset to read for `topic`/`partition`; 0 when nothing was read yet. */
  checkpoint(topic: string, partition: number): number {
    return this.checkpointCache.get(`${topic}/${partition}`) ?? 0;
  }

  getMany(space: string, keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return this.db.getMany(keys.map((key) => `${space}/${key}`));
  }

  getSync(space: string, key: string): Uint8Array | undefined {
    return this.db.getSync(`${space}/${key}`);
  }

  get(space: string, key: string): Promise<Uint8Array | undefined> {
    return this.db.get(`${space}/${key}`);
  }

  /**
   * Entries of `space` whose keys start with `prefix`, in key order (or reverse), optionally
   * strictly after (or before, when reversed) `from`.
   */
  async entries(
    space: string,
    prefix: string,
    options: { reverse?: boolean; limit?: number; from?: string },
  ): Promise<Array<[string, Uint8Array]>> {
    const base = `${space}/${prefix}`;
    const range: { gte?: string; gt?: string; lt?: string; lte?: string } = { gte: base, lt: `${base}${AFTER_ALL}` };
    if (options.from !== undefined) {
      if (options.reverse) range.lt = `${space}/${options.from}`;
      else {
        delete range.gte;
        range.gt = `${space}/${options.from}`;
      }
    }
    const rows: Array<[string, Uint8Array]> = [];
    for await (const [key, value] of this.db.iterator({ ...range, reverse: options.reverse, limit: options.limit ?? -1 })) {
      rows.push([key.slice(space.length + 1), value]);
    }
    return rows;
  }

  /** A value of the store's own, outside every table and checkpoint (the group member it was, say). */
  async getMeta(name: string): Promise<string | undefined> {
    const value = await this.db.get(`${META_PREFIX}${name}`);
    return value === undefined ? undefined : decoder.decode(value);
  }

  /** Sets (undefined deletes) a value of the store's own; see {@link getMeta}. */
  async setMeta(name: string, value: string | undefined): Promise<void> {
    if (value === undefined) await this.db.del(`${META_PREFIX}${name}`);
    else await this.db.put(`${META_PREFIX}${name}`, encoder.encode(value));
  }

  /**
   * Starts an atomic write: values put (and deleted) straight into LevelDB's batch, then
   * {@link StoreWrite.write} with the checkpoints they reach. Restoration and views write hundreds
   * of thousands of values a second, and a list of changes first would be an object per value.
   */
  startWrite(): StoreWrite {
    return new StoreWrite(this.db.batch(), this.checkpointCache);
  }

  /** Bytes on disk of the keys starting with `prefix` (all by default), roughly: LevelDB's own estimate. */
  async approximateSize(prefix = ''): Promise<number> {
    return this.db.approximateSize(prefix, `${prefix}${AFTER_ALL}`);
  }

  /** Deletes every value whose key starts with `prefix`, and the checkpoints of `topics` of `partition`. */
  async clear(prefix: string, topics: readonly string[], partition: number): Promise<void> {
    await this.db.clear({ gte: prefix, lt: `${prefix}${AFTER_ALL}` });
    await this.db.batch(topics.map((topic) => ({ type: 'del' as const, key: `${CHECKPOINT_PREFIX}${topic}/${partition}` })));
    for (const topic of topics) this.checkpointCache.delete(`${topic}/${partition}`);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Deletes the database at `path` (closed). */
  static async destroy(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }
}

type LevelBatch = ReturnType<ClassicLevel<string, Uint8Array>['batch']>;

/**
 * One atomic write to a {@link LocalStore} (`startWrite`). An object with methods rather than a
 * callback per write: `--trace-opt` showed V8 optimizing the commit's callback, made anew for each
 * write, ~20 times over in a B2 run of 400,000 deposits (a few hundred ms of its compiler
 * threads); this class's methods are optimized once.
 */
export class StoreWrite {
  constructor(
    private readonly batch: LevelBatch,
    private readonly checkpointCache: Map<string, number>,
  ) {}

  /** Puts a value under a key of a keyspace (undefined deletes). */
  put(space: string, key: string, value: Uint8Array | undefined): void {
    if (value === undefined) this.batch.del(`${space}/${key}`);
    else this.batch.put(`${space}/${key}`, value);
  }

  /**
   * Puts a change read from a changelog under its key in the keyspace whose {@link keyspacePrefix}
   * is `prefix`, the key taken as bytes: restorations
   * and views write hundreds of thousands a second, and a key as text would be decoded, joined to
   * its prefix and encoded again. The value is stored with its applied offsets' text when
   * `withApplied` (as `encodeStored` lays it out), as it is otherwise; no value deletes. With
   * `keep`, returns the value as stored: bytes of its own with `withApplied`, a view of the entry's
   * bytes without; undefined for a deletion.
   */
  putEntry(prefix: Uint8Array, entry: ChangelogEntry, withApplied: boolean, keep = false): Uint8Array | undefined {
    const { bytes, keyStart, keyEnd, valueStart, valueEnd } = entry;
    const keyLength = prefix.length + keyEnd - keyStart;
    const storedLength = withApplied ? 2 + entry.appliedEnd - entry.appliedStart + valueEnd - valueStart : 0;
    // LevelDB copies a key and a value into its batch as it is given them, so both are laid out in
    // one buffer used again for every change, not in two new ones each: a cold restore puts
    // ~1,400,000 changes, and fresh buffers came out of 8 KiB slabs outside V8's heap, each
    // counted towards its next collection.
    const scratch = scratchOf(keyLength + (keep ? 0 : storedLength));
    scratch.set(prefix);
    copyBytes(bytes, keyStart, keyEnd, scratch, prefix.length);
    const key = scratch.subarray(0, keyLength);
    if (valueEnd === -1) {
      this.batch.del(key.toString());
      return undefined;
    }
    let value: Uint8Array;
    if (withApplied) {
      value = keep ? Buffer.allocUnsafe(storedLength) : scratch.subarray(keyLength, keyLength + storedLength);
      layStored(value, bytes, entry.appliedStart, entry.appliedEnd, bytes, valueStart, valueEnd);
    } else {
      value = bytes.subarray(valueStart, valueEnd);
    }
    // abstract-level's put would turn a key given as bytes back into text (the store's keys are
    // text) and make two objects per call; classic-level's own method takes the bytes as they
    // are. A batch writes only if it counts an operation, and it counts only those put through
    // its own methods: the first of a write goes that way.
    if (this.batch.length > 0) (this.batch as unknown as { _put(key: Uint8Array, value: Uint8Array): void })._put(key, value);
    else this.batch.put(key.toString(), value);
    return keep ? value : undefined;
  }

  /** Writes what was put and the checkpoints, all or nothing, so a checkpoint never claims more than the values hold. */
  async write(checkpoints: Iterable<{ topic: string; partition: number; next: number }>): Promise<void> {
    const written: Array<[string, number]> = [];
    for (const { topic, partition, next } of checkpoints) {
      const name = `${topic}/${partition}`;
      this.batch.put(`${CHECKPOINT_PREFIX}${name}`, encoder.encode(String(next)));
      written.push([name, next]);
    }
    await this.batch.write();
    for (const [name, next] of written) this.checkpointCache.set(name, next);
  }
}

// A process opens one store per group and one per view (seven with every part in one process),
// however many partitions it owns: LevelDB's defaults (8 MiB of block cache and a 4 MiB write
// buffer, of which two can be in memory) would take over 100 MiB before holding any data.
// Blocks are written without Snappy: LevelDB's compaction thread and libuv's pool compress and
// decompress every block they rewrite or read, ~8 % of a deposit's CPU in B2, for ~26 % less disk
// (docs/streams.md). Blocks written compressed before stay readable: each block says how it is stored.
const LEVEL_OPTIONS = { keyEncoding: 'utf8', valueEncoding: 'view', cacheSize: 4 * 1024 * 1024, writeBufferSize: 2 * 1024 * 1024, compression: false } as const;

// A store whose keys are each written once (the view of a write-once table: the history, an
// entry per deposit, keyed by wallet) gets every key range in every write buffer it flushes, so
// LevelDB merges each flush with nearly all it holds: in B2 (1,000,000 deposits) the history
// view compacted 320 MB to keep 78 MB. With 8 MiB write buffers, 127 MB (16 MiB: 121); ~2.5 %
// less CPU per deposit for ~15 MB more peak memory, and a cold start of B2's tables ready (its
// views restored) after 4.30-4.50 s against 4.70-4.88 s in five pairs (16 MiB: 4.49-4.77).
const WRITTEN_ONCE_LEVEL_OPTIONS = { ...LEVEL_OPTIONS, writeBufferSize: 8 * 1024 * 1024 } as const;

// Keys compare as UTF-8 bytes: '\xff' would end a prefix's range before keys going on with any
// character from U+00FF up; U+10FFFF, the last code point (a noncharacter), ends it after them.
const AFTER_ALL = '\u{10FFFF}';

const FORMAT = 'depositaja-store-1';
const FORMAT_KEY = '~format';
const CHECKPOINT_PREFIX = '~checkpoint/';
const META_PREFIX = '~meta/';

/*
 * A table value is stored with the input offsets it reflects, in LevelDB as
 * [u16 length of the applied text][applied text][value bytes], and in the changelog as the
 * record value with the applied text in a header. The text is `topic=offset[,topic=offset]`.
 */

/** Per input topic, the offset of the last record applied to a key's value. */
export type AppliedOffsets = Record<string, number>;

/** A table value as stored: encoded, with the offsets it reflects. */
export interface StoredValue {
  bytes: Uint8Array;
  applied: AppliedOffsets;
}

export const APPLIED_HEADER = 'applied';

export function formatApplied(applied: AppliedOffsets): string {
  let text = '';
  for (const topic in applied) text += `${text ? ',' : ''}${topic}=${applied[topic]}`;
  return text;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A table value as stored: its bytes after its applied offsets' text (`formatApplied`, or a changelog record's header). */
export function encodeStored(bytes: Uint8Array, appliedText: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(2 + appliedText.length + bytes.length);
  layStored(out, appliedText, 0, appliedText.length, bytes, 0, bytes.length);
  return out;
}

/** Writes into `out` a stored value: the applied text's length, the text (`applied[appliedStart..appliedEnd)`), the value's bytes. */
function layStored(out: Uint8Array, applied: Uint8Array, appliedStart: number, appliedEnd: number, value: Uint8Array, valueStart: number, valueEnd: number): void {
  const appliedLength = appliedEnd - appliedStart;
  out[0] = appliedLength >> 8;
  out[1] = appliedLength & 0xff;
  copyBytes(applied, appliedStart, appliedEnd, out, 2);
  copyBytes(value, valueStart, valueEnd, out, 2 + appliedLength);
}

/** This thread's buffer for the keys and values {@link StoreWrite.putEntry} hands to LevelDB, grown as needed. */
let scratch = Buffer.allocUnsafe(64 * 1024);

function scratchOf(length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafe(Math.max(length, 2 * scratch.length));
  return scratch;
}

/** The bytes that begin every key of a keyspace (see {@link StoreWrite.putEntry}). */
export function keyspacePrefix(space: string): Buffer {
  return Buffer.from(`${space}/`);
}

/**
 * Copies `from[start..end)` into `to` at `at`. A whole array, or a range of more than a few bytes,
 * through a typed array's set (a value of 200 bytes: ~140 against ~690 ns in a loop); a range of a
 * few bytes in a loop, which needs no view of it (a key of 16 bytes: ~90 against ~130 ns).
 */
function copyBytes(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): void {
  if (start === 0 && end === from.length) to.set(from, at);
  else if (end - start > 32) to.set(from.subarray(start, end), at);
  else for (let index = start; index < end; index++) to[at++] = from[index];
}

/** A stored table value's own bytes, its applied offsets skipped. */
export function storedValueBytes(stored: Uint8Array): Uint8Array {
  return stored.subarray(2 + ((stored[0] << 8) | stored[1]));
}

export function decodeStored(bytes: Uint8Array): StoredValue {
  const length = (bytes[0] << 8) | bytes[1];
  return { applied: parseAppliedBytes(bytes, 2, 2 + length), bytes: storedValueBytes(bytes) };
}

/**
 * The offsets of {@link formatApplied}'s text between `start` and `end`, read from the bytes: each
 * comma-separated pair is a topic, its last `=`, and an offset (`Number` of its text; a pair
 * without `=` past its first character is skipped). A batch loads a stored value per key it
 * handles, and decoding the text, splitting it and slicing each pair made a handful of strings
 * per key: the topics' names are a few, so their text is made once (`appliedTopic`), and offsets
 * of up to 15 digits are read digit by digit.
 */
export function parseAppliedBytes(bytes: Uint8Array, start: number, end: number): AppliedOffsets {
  const applied: AppliedOffsets = {};
  let at = start;
  while (at < end) {
    let comma = at;
    while (comma < end && bytes[comma] !== COMMA) comma++;
    let equals = comma - 1;
    while (equals > at && bytes[equals] !== EQUALS) equals--;
    if (equals > at) applied[appliedTopic(bytes, at, equals)] = appliedOffset(bytes, equals + 1, comma);
    at = comma + 1;
  }
  return applied;
}

const COMMA = 0x2c;
const EQUALS = 0x3d;

/** The offset written from `start` to `end`: its digits, or `Number` of its text when it is not only digits. */
function appliedOffset(bytes: Uint8Array, start: number, end: number): number {
  // Past 15 digits a sum of digits may round where Number's reading of the text does not.
  if (end - start > 15) return offsetOfText(bytes, start, end);
  let value = 0;
  for (let index = start; index < end; index++) {
    const digit = bytes[index] - 0x30;
    if (digit < 0 || digit > 9) return offsetOfText(bytes, start, end);
    value = value * 10 + digit;
  }
  return value;
}

const offsetOfText = (bytes: Uint8Array, start: number, end: number): number => Number(decoder.decode(bytes.subarray(start, end)));

/** Topic names met in applied offsets, as bytes and text, the latest last (a group reads a few topics). */
const appliedTopics: Array<{ bytes: Uint8Array; text: string }> = [];
const APPLIED_TOPICS_KEPT = 16;

function appliedTopic(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  for (let index = appliedTopics.length - 1; index >= 0; index--) {
    const known = appliedTopics[index];
    if (known.bytes.length !== length) continue;
    let same = true;
    for (let offset = 0; offset < length; offset++) {
      if (known.bytes[offset] !== bytes[start + offset]) {
        same = false;
        break;
      }
    }
    if (same) return known.text;
  }
  const topic = { bytes: bytes.slice(start, end), text: decoder.decode(bytes.subarray(start, end)) };
  if (appliedTopics.length === APPLIED_TOPICS_KEPT) appliedTopics.shift();
  appliedTopics.push(topic);
  return topic.text;
}

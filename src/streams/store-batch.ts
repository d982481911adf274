import { ChangelogEntry, type ChangelogRecord } from './changelog-reader.js';
import { type Codec, encodeInto } from './codec.js';
import { APPLIED_HEADER } from './state-store.js';
import { WireReader, WireType, WireWriter } from './wire.js';

/**
 * What changelog records hold. A table's record is one key's value, with the input offsets it
 * reflects in a header. A write-once store (see `tableTopic`'s `writeOnce`) writes the changes of
 * one commit in one record, a protobuf `StoreBatch` (proto/depositaja/v1/store_batch.proto),
 * written here with protobuf's wire format (`wire.ts`) because the core has no generated code of its own.
 */

/** The header that marks a changelog record as a `StoreBatch` (any other record is one key's value). */
export const STORE_BATCH_HEADER = 'store-batch';

/**
 * The header's value as written. Any value marks a `StoreBatch`: records written before
 * 2026-12-05 may say `published` (entries for views only, when a store could hold both kinds).
 */
export const STORE_BATCH_MARK = '1';

// Well under the broker's largest record batch (message.max.bytes, 1 MiB by default).
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * A store's changes as `StoreBatch` values of at most ~256 KiB each, written as they come: a
 * batch publishing an entry per record holds their bytes, not an object per entry, until it
 * commits.
 */
export class StoreBatchWriter {
  private readonly writer = new WireWriter();
  private bytes = 0;
  private readonly batches: Uint8Array[] = [];

  add(key: string, value: Uint8Array): void {
    if (this.bytes > 0 && this.bytes + key.length * 3 + value.length > MAX_BATCH_BYTES) this.close();
    this.entryValue(key).bytes(value).join();
    this.bytes += key.length * 3 + value.length + 8;
  }

  /**
   * Adds `value` encoded by `codec`, written straight into the batch rather than encoded on its
   * own and copied in (a published history writes an entry per record). A value that cannot be
   * encoded throws, as `codec.encode` does, and leaves the batch as it was.
   */
  addValue<T>(key: string, codec: Codec<T>, value: T): void {
    // The value's size is known once written: a batch closes once past the limit.
    if (this.bytes >= MAX_BATCH_BYTES) this.close();
    const mark = this.writer.mark();
    try {
      encodeInto(codec, this.entryValue(key).fork(), value);
      this.writer.join().join();
    } catch (error) {
      this.writer.rewind(mark);
      throw error;
    }
    this.bytes += this.writer.mark() - mark;
  }

  /** Opens an `Entry` and writes its key; its value's tag is next, then the caller's value and `join`. */
  private entryValue(key: string): WireWriter {
    return this.writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited);
  }

  /** The `StoreBatch` values written, in order; the writer's last use. */
  finish(): Uint8Array[] {
    if (this.bytes > 0) this.close();
    return this.batches;
  }

  private close(): void {
    this.batches.push(this.writer.finish());
    this.bytes = 0;
  }
}

/** A store's changes (key → value) as `StoreBatch` values of at most ~256 KiB each, in order. */
export function encodeStoreBatches(changes: ReadonlyMap<string, Uint8Array>): Uint8Array[] {
  const writer = new StoreBatchWriter();
  // forEach, not for…of: no entry array per change; and with a function made once, not a closure
  // per call, which V8 would optimize anew after every full collection (docs/streams.md).
  changes.forEach(addTo, writer);
  return writer.finish();
}

function addTo(this: StoreBatchWriter, value: Uint8Array, key: string): void {
  this.add(key, value);
}

// StoreBatch { repeated Entry entries = 1 }, Entry { string key = 1; bytes value = 2 }: field
// number and wire type, as one varint. Any other field (an older record's `published`) is skipped.
const ENTRY_TAG = (1 << 3) | WireType.LengthDelimited;
const KEY_TAG = (1 << 3) | WireType.LengthDelimited;
const VALUE_TAG = (2 << 3) | WireType.LengthDelimited;

/**
 * A visitor of a changelog's changes. The entry is set anew for each change (read it during the
 * call); its applied offsets' text is empty for an entry of a `StoreBatch`.
 */
export type EntryVisitor = (entry: ChangelogEntry) => void;

/**
 * Calls `visit` with each entry of a `StoreBatch` value (in `bytes`, from `start` to `end`), in
 * order, as ranges of `bytes`. Read by hand, field by field, because restoration and views read
 * hundreds of thousands of entries a second: no object per entry, no array per tag.
 */
export function forEachStoreEntry(bytes: Uint8Array, visit: EntryVisitor, start = 0, end = bytes.length, entry = new ChangelogEntry()): void {
  const wire = new WireReader(bytes).reset(bytes, start, end);
  entry.bytes = wire.buffer;
  entry.appliedStart = 0;
  entry.appliedEnd = 0;
  while (wire.pos < end) {
    const tag = wire.varint();
    if (tag !== ENTRY_TAG) {
      wire.skip(tag);
      continue;
    }
    const entryEnd = wire.fieldEnd();
    entry.keyStart = entry.keyEnd = entry.valueStart = entry.valueEnd = wire.pos;
    while (wire.pos < entryEnd) {
      const inner = wire.varint();
      if (inner === KEY_TAG) {
        entry.keyStart = wire.field();
        entry.keyEnd = wire.pos;
      } else if (inner === VALUE_TAG) {
        entry.valueStart = wire.field();
        entry.valueEnd = wire.pos;
      } else wire.skip(inner);
    }
    visit(entry);
  }
}

// Set by each record in turn; restorations and views read one record at a time.
const located = new ChangelogEntry();
const batchEntry = new ChangelogEntry();
const APPLIED = Buffer.from(APPLIED_HEADER);
const STORE_BATCH = Buffer.from(STORE_BATCH_HEADER);

/**
 * Calls `visit` with the changes a changelog record holds, for restoration and views alike: one
 * key's value (a table's with the input offsets it reflects, as the record's header has them:
 * `formatApplied` text, stored as it is by `encodeStored`, never parsed), or every entry of a
 * `StoreBatch` (with no applied text). A record without a key holds none.
 */
export function forEachChangelogEntry(record: ChangelogRecord, visit: EntryVisitor): void {
  if (record.locate(located, APPLIED, STORE_BATCH)) {
    if (located.valueEnd !== -1) forEachStoreEntry(located.bytes, visit, located.valueStart, located.valueEnd, batchEntry);
    return;
  }
  if (located.keyEnd !== -1) visit(located);
}

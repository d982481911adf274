import type { ChangelogRecord } from './changelog-reader.js';
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

const NONE = new Uint8Array();

// StoreBatch { repeated Entry entries = 1 }, Entry { string key = 1; bytes value = 2 }: field
// number and wire type, as one varint. Any other field (an older record's `published`) is skipped.
const ENTRY_TAG = (1 << 3) | WireType.LengthDelimited;
const KEY_TAG = (1 << 3) | WireType.LengthDelimited;
const VALUE_TAG = (2 << 3) | WireType.LengthDelimited;

/** A visitor of a changelog's entries: a key, its value (undefined deletes), the applied offsets' text. */
export type EntryVisitor = (key: string, value: Uint8Array | undefined, appliedText: Uint8Array) => void;

/**
 * Calls `visit` with each entry of a `StoreBatch` value, in order; values are views into `bytes`.
 * Read by hand, field by field, because restoration and views read hundreds of thousands of
 * entries a second: ~110 ns per entry, against ~280 ns with protobuf-es's `BinaryReader` even
 * reading tags as plain varints (no object per entry, no array per tag either way).
 */
export function forEachStoreEntry(bytes: Uint8Array, visit: EntryVisitor): void {
  const wire = new WireReader(bytes);
  const buffer = wire.buffer;
  while (wire.pos < buffer.length) {
    const tag = wire.varint();
    if (tag !== ENTRY_TAG) {
      wire.skip(tag);
      continue;
    }
    const end = wire.fieldEnd();
    let key = '';
    let value: Uint8Array = NONE;
    while (wire.pos < end) {
      const inner = wire.varint();
      if (inner === KEY_TAG) {
        const start = wire.field();
        key = buffer.toString('utf8', start, wire.pos);
      } else if (inner === VALUE_TAG) {
        const start = wire.field();
        value = buffer.subarray(start, wire.pos);
      } else wire.skip(inner);
    }
    visit(key, value, NONE);
  }
}

/**
 * Calls `visit` with the changes a changelog record holds, for restoration and views alike: one
 * key's value (a table's with the input offsets it reflects, as the record's header has them:
 * `formatApplied` text, stored as it is by `encodeStored`, never parsed), or every entry of a
 * `StoreBatch` (with no applied text).
 */
export function forEachChangelogEntry(record: ChangelogRecord, visit: EntryVisitor): void {
  // Each field once: a fetched record reads them from its bytes on every access.
  if (record.header(STORE_BATCH_HEADER) !== undefined) {
    const value = record.value;
    if (value !== null) forEachStoreEntry(value, visit);
    return;
  }
  const key = record.key;
  if (key === null) return;
  const applied = record.header(APPLIED_HEADER);
  visit(key, record.value ?? undefined, applied == null ? NONE : typeof applied === 'string' ? Buffer.from(applied) : applied);
}

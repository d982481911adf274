import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { ChangelogRecord } from './changelog-reader.js';
import { APPLIED_HEADER } from './state-store.js';

/**
 * What changelog records hold. A table's record is one key's value, with the input offsets it
 * reflects in a header. A write-once store (see `tableTopic`'s `writeOnce`) writes the changes of
 * one commit in one record, a protobuf `StoreBatch` (proto/depositaja/v1/store_batch.proto),
 * written here with protobuf's wire format because the core has no generated code of its own.
 */

/** The header that marks a changelog record as a `StoreBatch` (any other record is one key's value). */
export const STORE_BATCH_HEADER = 'store-batch';

export interface StoreEntry {
  key: string;
  value: Uint8Array;
}

// Well under the broker's largest record batch (message.max.bytes, 1 MiB by default).
const MAX_BATCH_BYTES = 256 * 1024;

/** The entries as `StoreBatch` values of at most ~256 KiB each, in order. */
export function* encodeStoreBatches(entries: Iterable<StoreEntry>): Generator<Uint8Array> {
  let writer = new BinaryWriter();
  let bytes = 0;
  for (const { key, value } of entries) {
    if (bytes > 0 && bytes + key.length * 3 + value.length > MAX_BATCH_BYTES) {
      yield writer.finish();
      writer = new BinaryWriter();
      bytes = 0;
    }
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited).bytes(value).join();
    bytes += key.length * 3 + value.length + 8;
  }
  if (bytes > 0) yield writer.finish();
}

/** The entries of a `StoreBatch` value; values are views into `bytes`. */
export function decodeStoreBatch(bytes: Uint8Array): StoreEntry[] {
  const reader = new BinaryReader(bytes);
  const entries: StoreEntry[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    const end = reader.uint32() + reader.pos;
    const entry: StoreEntry = { key: '', value: new Uint8Array() };
    while (reader.pos < end) {
      const [inner, innerType] = reader.tag();
      if (inner === 1 && innerType === WireType.LengthDelimited) entry.key = reader.string();
      else if (inner === 2 && innerType === WireType.LengthDelimited) entry.value = reader.bytes();
      else reader.skip(innerType, inner);
    }
    entries.push(entry);
  }
  return entries;
}

/** One key's change as a changelog record carries it; `value` undefined deletes. */
export interface ChangelogEntry {
  key: string;
  value: Uint8Array | undefined;
  /**
   * The input offsets a table value reflects, as the record's header has them (`formatApplied`
   * text; empty for store values): stored as they are (`encodeStored`), never parsed.
   */
  appliedText: Uint8Array;
}

const NONE = new Uint8Array();

/**
 * The changes a changelog record holds, for restoration and views alike: one key's value (a
 * table's with its applied offsets), or every entry of a `StoreBatch`.
 */
export function* changelogEntries(record: ChangelogRecord): Generator<ChangelogEntry> {
  if (record.headers[STORE_BATCH_HEADER] !== undefined) {
    if (record.value !== null) for (const { key, value } of decodeStoreBatch(record.value)) yield { key, value, appliedText: NONE };
  } else if (record.key !== null) {
    const header = record.headers[APPLIED_HEADER];
    const applied = Array.isArray(header) ? header[0] : header;
    yield { key: record.key, value: record.value ?? undefined, appliedText: applied === undefined ? NONE : typeof applied === 'string' ? Buffer.from(applied) : applied };
  }
}

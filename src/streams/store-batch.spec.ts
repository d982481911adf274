import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { StoreBatchSchema } from '../gen/depositaja/v1/store_batch_pb.js';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { StringValueSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { protobufCodec } from './codec.js';
import { changelogRecordOf } from './changelog-reader.js';
import { type EntryVisitor, STORE_BATCH_HEADER, STORE_BATCH_MARK, StoreBatchWriter, encodeStoreBatches, forEachChangelogEntry, forEachStoreEntry } from './store-batch.js';

const bytes = (...values: number[]) => new Uint8Array(values);

/** What a visitor is given, as plain values. */
function collect(read: (visit: EntryVisitor) => void) {
  const seen: Array<{ key: string; value: Uint8Array | undefined; appliedText: Uint8Array }> = [];
  read(({ key, value, appliedText }) => seen.push({ key, value: value && new Uint8Array(value), appliedText: new Uint8Array(appliedText) }));
  return seen;
}
const changes = (entries: Array<{ key: string; value: Uint8Array }>) => new Map(entries.map(({ key, value }) => [key, value]));
const entriesOf = (batch: Uint8Array) => collect((visit) => forEachStoreEntry(batch, visit)).map(({ key, value }) => ({ key, value }));

describe(encodeStoreBatches.name, () => {
  it('writes a StoreBatch as the schema in proto/ reads it, and reads one the schema writes', () => {
    const entries = [
      { key: 'w1/h/000000000000001', value: bytes(8, 1) },
      { key: 'clé/k/ä', value: bytes() },
    ];
    const [encoded, ...more] = [...encodeStoreBatches(changes(entries))];
    const written = toBinary(StoreBatchSchema, create(StoreBatchSchema, { entries }));

    expect(more).toEqual([]);
    expect(fromBinary(StoreBatchSchema, encoded).entries).toEqual(entries.map((entry) => expect.objectContaining(entry)));
    expect(entriesOf(written)).toEqual(entries);
  });

  it('splits many entries into records of at most ~256 KiB, keeping their order', () => {
    const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `wallet-${i}/h/${i}`, value: new Uint8Array(120).fill(i % 251) }));
    const batches = [...encodeStoreBatches(changes(entries))];

    expect(batches.length).toBeGreaterThan(1);
    expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(256 * 1024 + 200);
    expect(batches.flatMap(entriesOf)).toEqual(entries);
  });

  it('reads past fields it does not know, as protobuf does', () => {
    const writer = new BinaryWriter();
    writer.tag(2, WireType.Varint).uint64(300n);
    writer.tag(1, WireType.LengthDelimited).fork().tag(3, WireType.Bit64).fixed64(7n).tag(1, WireType.LengthDelimited).string('w1/h/1');
    writer.tag(4, WireType.LengthDelimited).bytes(bytes(1, 2)).tag(2, WireType.LengthDelimited).bytes(bytes(5)).tag(5, WireType.Bit32).fixed32(9).join();

    expect(entriesOf(writer.finish())).toEqual([{ key: 'w1/h/1', value: bytes(5) }]);
  });

  it('refuses a truncated batch instead of reading past its end', () => {
    const [batch] = [...encodeStoreBatches(changes([{ key: 'w1/h/1', value: bytes(1, 2, 3) }]))];

    expect(() => entriesOf(batch.subarray(0, batch.length - 2))).toThrow(/truncated/);
  });

  it('writes nothing for no entries', () => {
    expect([...encodeStoreBatches(changes([]))]).toEqual([]);
  });
});

describe(StoreBatchWriter.name, () => {
  const codec = protobufCodec(TimestampSchema);
  const text = protobufCodec(StringValueSchema);
  const time = (seq: bigint) => create(TimestampSchema, { seconds: 1796000000n + seq, nanos: Number(seq % 1000n) });
  const written = (sut: StoreBatchWriter) => sut.finish().flatMap(entriesOf);

  it("writes a value straight into the batch as the codec's own bytes would be added", () => {
    const sut = new StoreBatchWriter();
    const expected = new StoreBatchWriter();
    for (const seq of [1n, 2n, 3n]) {
      sut.addValue(`w1/h/${seq}`, codec, time(seq));
      expected.add(`w1/h/${seq}`, codec.encode(time(seq)));
    }
    // Text that is not ASCII: the compiled encoder hands that value to protobuf-es.
    const other = create(StringValueSchema, { value: 'dépôt' });
    sut.addValue('w1/t', text, other);
    expected.add('w1/t', text.encode(other));

    expect(written(sut)).toEqual(written(expected));
    expect(written(sut).map(({ value }) => value)).toEqual([...[1n, 2n, 3n].map((seq) => toBinary(TimestampSchema, time(seq))), toBinary(StringValueSchema, other)]);
  });

  it('writes the value of a codec that only encodes (one of its own bytes)', () => {
    const json = { encode: (value: unknown) => new TextEncoder().encode(JSON.stringify(value)), decode: () => undefined };
    const sut = new StoreBatchWriter();
    sut.addValue('k', json, { a: 1 });

    expect(written(sut)).toEqual([{ key: 'k', value: new TextEncoder().encode('{"a":1}') }]);
  });

  it('throws for a value that cannot be encoded and leaves the batch as it was', () => {
    const sut = new StoreBatchWriter();
    sut.addValue('w1/h/1', codec, time(1n));

    expect(() => sut.addValue('w1/h/2', codec, { ...time(2n), seconds: 2n ** 63n })).toThrow(/int64/);
    sut.addValue('w1/h/3', codec, time(3n));

    expect(written(sut)).toEqual([
      { key: 'w1/h/1', value: codec.encode(time(1n)) },
      { key: 'w1/h/3', value: codec.encode(time(3n)) },
    ]);
  });

  it('splits many values into records of at most ~256 KiB and one value, keeping their order', () => {
    const seqs = Array.from({ length: 12_000 }, (_, i) => BigInt(i + 1));
    const sut = new StoreBatchWriter();
    for (const seq of seqs) sut.addValue(`wallet-${seq}/h/${seq}`, codec, time(seq));
    const batches = sut.finish();

    expect(batches.length).toBeGreaterThan(1);
    expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(256 * 1024 + 200);
    expect(batches.flatMap(entriesOf).map(({ key, value }) => [key, fromBinary(TimestampSchema, value!).seconds])).toEqual(seqs.map((seq) => [`wallet-${seq}/h/${seq}`, 1796000000n + seq]));
  });
});

describe(forEachChangelogEntry.name, () => {
  const record = (key: string | null, value: Uint8Array | null, headers: Record<string, string> = {}) => changelogRecordOf(7, key, value, headers);

  it('reads a table value with its applied offsets, a deletion, and every entry of a StoreBatch', () => {
    const [batch] = [...encodeStoreBatches(changes([{ key: 'w1/h/1', value: bytes(1) }, { key: 'w1/h/2', value: bytes(2) }]))];

    expect(collect((visit) => forEachChangelogEntry(record('w1', bytes(9), { applied: 'deposit=41,flag_wallet=3' }), visit))).toEqual([
      { key: 'w1', value: bytes(9), appliedText: new TextEncoder().encode('deposit=41,flag_wallet=3') },
    ]);
    expect(collect((visit) => forEachChangelogEntry(record('w1', null), visit))).toEqual([{ key: 'w1', value: undefined, appliedText: new Uint8Array() }]);
    expect(collect((visit) => forEachChangelogEntry(record('any-id', batch, { [STORE_BATCH_HEADER]: '1' }), visit))).toEqual([
      { key: 'w1/h/1', value: bytes(1), appliedText: new Uint8Array() },
      { key: 'w1/h/2', value: bytes(2), appliedText: new Uint8Array() },
    ]);
    expect(collect((visit) => forEachChangelogEntry(record(null, bytes(1)), visit))).toEqual([]);
  });

  it('reads every entry of a StoreBatch under any header value, records written before 2026-12-05 with their published marks included', () => {
    const older = toBinary(StoreBatchSchema, create(StoreBatchSchema, { entries: [{ key: 'w1/h/1', value: bytes(1), published: true }, { key: 'w1/k/x', value: bytes(2) }] }));
    const [current] = [...encodeStoreBatches(changes([{ key: 'w1/h/2', value: bytes(3) }]))];
    const keysRead = (value: Uint8Array, marker: string) => {
      const keys: string[] = [];
      forEachChangelogEntry(record('any-id', value, { [STORE_BATCH_HEADER]: marker }), ({ key }) => keys.push(key));
      return keys;
    };

    expect(keysRead(older, 'published')).toEqual(['w1/h/1', 'w1/k/x']);
    expect(keysRead(older, '1')).toEqual(['w1/h/1', 'w1/k/x']);
    expect(keysRead(current, STORE_BATCH_MARK)).toEqual(['w1/h/2']);
  });
});

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { StoreBatchSchema } from '../gen/depositaja/v1/store_batch_pb.js';
import { STORE_BATCH_HEADER, changelogEntries, decodeStoreBatch, encodeStoreBatches } from './store-batch.js';

const bytes = (...values: number[]) => new Uint8Array(values);

describe(encodeStoreBatches.name, () => {
  it('writes a StoreBatch as the schema in proto/ reads it, and reads one the schema writes', () => {
    const entries = [
      { key: 'w1/h/000000000000001', value: bytes(8, 1) },
      { key: 'clé/k/ä', value: bytes() },
    ];
    const [encoded, ...more] = [...encodeStoreBatches(entries)];
    const written = toBinary(StoreBatchSchema, create(StoreBatchSchema, { entries }));

    expect(more).toEqual([]);
    expect(fromBinary(StoreBatchSchema, encoded).entries).toEqual(entries.map((entry) => expect.objectContaining(entry)));
    expect(decodeStoreBatch(written)).toEqual(entries);
  });

  it('splits many entries into records of at most ~256 KiB, keeping their order', () => {
    const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `wallet-${i}/h/${i}`, value: new Uint8Array(120).fill(i % 251) }));
    const batches = [...encodeStoreBatches(entries)];

    expect(batches.length).toBeGreaterThan(1);
    expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(256 * 1024 + 200);
    expect(batches.flatMap(decodeStoreBatch)).toEqual(entries);
  });

  it('writes nothing for no entries', () => {
    expect([...encodeStoreBatches([])]).toEqual([]);
  });
});

describe(changelogEntries.name, () => {
  const record = (key: string | null, value: Uint8Array | null, headers: Record<string, string> = {}) => ({
    offset: 7,
    key,
    value: value && Buffer.from(value),
    headers: Object.fromEntries(Object.entries(headers).map(([name, text]) => [name, Buffer.from(text)])),
  });

  it('reads a table value with its applied offsets, a deletion, and every entry of a StoreBatch', () => {
    const [batch] = [...encodeStoreBatches([{ key: 'w1/h/1', value: bytes(1) }, { key: 'w1/h/2', value: bytes(2) }])];

    expect([...changelogEntries(record('w1', bytes(9), { applied: 'deposit=41,flag_wallet=3' }))]).toEqual([
      { key: 'w1', value: Buffer.from([9]), appliedText: Buffer.from('deposit=41,flag_wallet=3') },
    ]);
    expect([...changelogEntries(record('w1', null))]).toEqual([{ key: 'w1', value: undefined, appliedText: new Uint8Array() }]);
    expect([...changelogEntries(record('any-id', batch, { [STORE_BATCH_HEADER]: '1' }))]).toEqual([
      { key: 'w1/h/1', value: bytes(1), appliedText: new Uint8Array() },
      { key: 'w1/h/2', value: bytes(2), appliedText: new Uint8Array() },
    ]);
    expect([...changelogEntries(record(null, bytes(1)))]).toEqual([]);
  });
});

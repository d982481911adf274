import { create } from '@bufbuild/protobuf';
import { type Int64Value, Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { BatchProcessor, type InputRecord, type InputRecords, type RecordHandler, type StateSource } from './batch.js';
import type { ProcessorContext } from './context.js';
import { defineGroup } from './group.js';
import { forEachStoreEntry } from './store-batch.js';
import { streamTopic, tableTopic } from './topics.js';

const numbers = streamTopic('numbers', Int64ValueSchema);
const log = tableTopic('log', Int64ValueSchema, { writeOnce: true });
const group = defineGroup({ name: 'sum', inputs: [numbers], table: tableTopic('sums', Int64ValueSchema), published: [log] });

/** Adds each number to its key's sum, and publishes it to the write-once log under `<key>/<offset>`. */
const sum: RecordHandler = (payload, context) => {
  const ctx = context as ProcessorContext<Int64Value>;
  const number = (payload as Int64Value).value;
  ctx.setValue(create(Int64ValueSchema, { value: (ctx.value()?.value ?? 0n) + number }));
  ctx.store(log).publish(`${ctx.key}/${ctx.offset}`, create(Int64ValueSchema, { value: number }));
};

const empty: StateSource = { loadTable: async () => new Map(), getStore: () => undefined };
const noRetry = async (error: unknown) => {
  throw error;
};

/** Records read as a fetched batch reads them: one object, set to each record in turn. */
class Cursor implements InputRecords {
  private readonly current: InputRecord = { topic: '', partition: 0, offset: 0, key: null, value: null, timestamp: 0 };

  constructor(private readonly records: InputRecord[]) {}

  get length(): number {
    return this.records.length;
  }

  at(index: number): InputRecord | undefined {
    const record = this.records[index];
    return record && Object.assign(this.current, record);
  }
}

const record = (offset: number, key: string | null, value: Uint8Array): InputRecord => ({
  topic: numbers.name,
  partition: 0,
  offset,
  key,
  value: Buffer.from(value),
  timestamp: 1_000 + offset,
});
const encoded = (value: bigint) => numbers.codec.encode(create(Int64ValueSchema, { value }));

describe(BatchProcessor.name, () => {
  const processor = new BatchProcessor(group, new Map([[numbers.name, sum]]));

  it('keeps each dead letter as its record was, when the batch reads its records through one object', async () => {
    const records = [record(0, 'a', encoded(5n)), record(1, null, encoded(7n)), record(2, 'b', Uint8Array.of(0xff)), record(3, 'a', encoded(2n))];

    const result = await processor.process(new Cursor(records), empty, noRetry);

    expect(result.deadLetters.map(({ record: { offset, key, timestamp } }) => ({ offset, key, timestamp }))).toEqual([
      { offset: 1, key: null, timestamp: 1_001 },
      { offset: 2, key: 'b', timestamp: 1_002 },
    ]);
    expect(result.handled).toBe(2);
    expect(group.table.codec.decode(result.table.get('a')!.bytes)).toMatchObject({ value: 7n });
    expect(result.table.get('a')!.applied).toEqual({ numbers: 3 });
  });

  it('writes what handlers publish to a write-once table into its StoreBatch values, in order', async () => {
    const records = [record(0, 'a', encoded(5n)), record(1, 'b', encoded(7n)), record(2, 'a', encoded(2n))];

    const result = await processor.process(records, empty, noRetry);

    const entries: Array<[string, bigint]> = [];
    for (const batch of result.storeBatches.get(log.name) ?? []) {
      forEachStoreEntry(batch, ({ key, value }) => entries.push([key, log.codec.decode(value!).value]));
    }
    expect(entries).toEqual([
      ['a/0', 5n],
      ['b/1', 7n],
      ['a/2', 2n],
    ]);
    expect(result.published.size).toBe(0);
  });
});

import { create } from '@bufbuild/protobuf';
import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { type Sum, sumGroup, sumTopics } from '../../../test/apps/sum-group.js';
import { SumProcessor } from '../../../test/apps/sum-processor.js';
import { StreamsTester } from './streams-tester.js';

const number = (value: bigint) => create(Int64ValueSchema, { value });

describe(StreamsTester.name, () => {
  let processor: SumProcessor;
  let sut: StreamsTester<Sum>;

  beforeEach(() => {
    processor = new SumProcessor();
    sut = StreamsTester.forProcessor<Sum>(sumGroup, processor);
  });

  it('keeps a value per key, and a store entry per record', async () => {
    await sut.feed(sumTopics.numbers, 'a', number(5n));
    await sut.feed(sumTopics.numbers, 'b', number(10n));
    await sut.feed(sumTopics.numbers, 'a', number(9007199254740993n));

    expect(sut.value('a')).toEqual({ sum: '9007199254740998', count: 2 });
    expect(sut.value('b')).toEqual({ sum: '10', count: 1 });
    expect(sut.value('c')).toBeUndefined();
    expect(sut.storeKeys(sumTopics.entries)).toEqual(['a/1', 'a/2', 'b/1']);
    expect(sut.storeValue(sumTopics.entries, 'a/2')).toEqual({ value: '9007199254740993' });
  });

  it('processes a batch of one key in order, each record seeing the value the previous set', async () => {
    await sut.feedBatch(sumTopics.numbers, [1n, 2n, 3n].map((n) => ({ key: 'k', value: number(n) })));

    expect(sut.value('k')).toEqual({ sum: '6', count: 3 });
    expect(sut.applied('k')).toEqual({ numbers: 2 });
  });

  it('skips a record it has already applied (a replay after a crash)', async () => {
    await sut.feed(sumTopics.numbers, 'a', number(5n));
    await sut.feed(sumTopics.numbers, 'a', number(6n));
    await sut.replay(2);

    expect(sut.value('a')).toEqual({ sum: '11', count: 2 });
  });

  it('emits, and an output is produced once per applied record', async () => {
    await sut.feed(sumTopics.numbers, 'a', number(5000n));
    await sut.replay();

    expect(sut.emitted(sumTopics.big)).toEqual([{ key: 'a', value: expect.objectContaining({ value: 5000n }) }]);
  });

  it('dead-letters undecodable and keyless records and a PoisonRecordError, and moves on', async () => {
    await sut.feedRaw('numbers', 'a', new Uint8Array([0xff, 0xff, 0xff]));
    await sut.feedRaw('numbers', null, new Uint8Array());
    await sut.feed(sumTopics.numbers, 'a', number(-1n));
    await sut.feed(sumTopics.numbers, 'a', number(4n));

    expect(sut.deadLetters()).toEqual([
      { topic: 'numbers', offset: 0, key: 'a', error: expect.stringContaining('cannot decode') },
      { topic: 'numbers', offset: 1, key: null, error: 'record has no key' },
      { topic: 'numbers', offset: 2, key: 'a', error: 'negative number -1' },
    ]);
    expect(sut.value('a')).toEqual({ sum: '4', count: 1 });
  });

  it('discards everything a handler did when it throws, and hands a transient error back', async () => {
    await sut.feed(sumTopics.numbers, 'a', number(1n));
    processor.failSevens = true;

    await expect(sut.feed(sumTopics.numbers, 'a', number(7n))).rejects.toThrow('sevens are failing');

    expect(sut.value('a')).toEqual({ sum: '1', count: 1 });
    expect(sut.storeKeys(sumTopics.entries)).toEqual(['a/1']);
    expect(sut.emitted(sumTopics.big)).toEqual([]);
  });
});

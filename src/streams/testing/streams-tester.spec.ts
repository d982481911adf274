import { create } from '@bufbuild/protobuf';
import { type Int64Value, Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { Controller, Module, type PipeTransform } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { type Sum, sumGroup, sumTopics } from '../../../test/apps/sum-group.js';
import { SumModule, SumProcessor } from '../../../test/apps/sum-processor.js';
import { PoisonRecordError, type ProcessorContext } from '../context.js';
import { GroupHandler, defineGroup } from '../group.js';
import { StreamsModule } from '../streams.module.js';
import { StreamsTester } from './streams-tester.js';

const number = (value: bigint) => create(Int64ValueSchema, { value });

describe(StreamsTester.name, () => {
  let processor: SumProcessor;
  let sut: StreamsTester<Sum>;

  beforeEach(async () => {
    sut = await StreamsTester.forModule<Sum>(sumGroup, SumModule);
    processor = sut.get(SumProcessor);
  });

  afterEach(() => sut.close());

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

  it('fails a record whose handler emits to a topic the group does not declare as an output, and keeps none of it', async () => {
    const quiet = defineGroup({ ...sumGroup, outputs: [] });
    @Controller()
    class EmitsUndeclared {
      @GroupHandler(quiet, sumTopics.numbers)
      add(@Payload() number: Int64Value, @Ctx() ctx: ProcessorContext<Sum>): void {
        ctx.setValue({ sum: String(number.value), count: 1 });
        ctx.emit(sumTopics.big, ctx.key, number);
      }
    }
    const tester = await StreamsTester.forModule<Sum>(quiet, moduleOf(EmitsUndeclared, quiet));

    await expect(tester.feed(sumTopics.numbers, 'a', number(5000n))).rejects.toThrow('group sum emits to big, which is not one of its outputs');

    expect(tester.value('a')).toBeUndefined();
    expect(tester.emitted(sumTopics.big)).toEqual([]);
    expect(tester.deadLetters()).toEqual([]);
    await tester.close();
  });

  it('publishes to a table for views only: written like a store, never kept or read back by the group', async () => {
    const history = { ...sumTopics.entries, name: 'sum-history' };
    const publishing = defineGroup({ ...sumGroup, published: [history] });
    @Controller()
    class Publishes {
      @GroupHandler(publishing, sumTopics.numbers)
      add(@Payload() number: Int64Value, @Ctx() ctx: ProcessorContext<Sum>): void {
        ctx.store(history).publish(`${ctx.key}/${number.value}`, { value: String(number.value) });
        ctx.store(sumTopics.entries).put(`${ctx.key}/kept`, { value: String(number.value) });
        ctx.setValue({ sum: String(number.value), count: 1 });
      }
    }
    const tester = await StreamsTester.forModule<Sum>(publishing, moduleOf(Publishes, publishing));

    await tester.feedBatch(sumTopics.numbers, [{ key: 'a', value: number(1n) }, { key: 'a', value: number(2n) }]);
    await tester.feed(sumTopics.numbers, 'a', number(3n));

    expect(tester.storeKeys(history)).toEqual(['a/1', 'a/2', 'a/3']);
    expect(tester.storeValue(history, 'a/3')).toEqual({ value: '3' });
    expect(tester.keptStoreKeys(history)).toEqual([]);
    expect(tester.keptStoreKeys(sumTopics.entries)).toEqual(['a/kept']);
    await tester.close();
  });

  it('refuses to read or put where the group only publishes, and to publish to a store it keeps', async () => {
    const history = { ...sumTopics.entries, name: 'sum-history' };
    const publishing = defineGroup({ ...sumGroup, published: [history] });
    const misuse: Record<string, (ctx: ProcessorContext<Sum>) => unknown> = {
      a: (ctx) => ctx.store(history).get('a/1'),
      b: (ctx) => ctx.store(history).put('b/1', { value: '1' }),
      c: (ctx) => ctx.store(sumTopics.entries).publish('c/1', { value: '1' }),
    };
    @Controller()
    class Misuses {
      @GroupHandler(publishing, sumTopics.numbers)
      async add(@Payload() _number: Int64Value, @Ctx() ctx: ProcessorContext<Sum>): Promise<void> {
        await misuse[ctx.key](ctx);
      }
    }
    const tester = await StreamsTester.forModule<Sum>(publishing, moduleOf(Misuses, publishing));

    await expect(tester.feed(sumTopics.numbers, 'a', number(1n))).rejects.toThrow('group sum reads sum-history, which it only publishes');
    await expect(tester.feed(sumTopics.numbers, 'b', number(1n))).rejects.toThrow('group sum puts to sum-history, which it only publishes');
    await expect(tester.feed(sumTopics.numbers, 'c', number(1n))).rejects.toThrow('group sum publishes to sum-entries, which is not one of its published tables');
    expect(tester.storeKeys(history)).toEqual([]);
    expect(tester.storeKeys(sumTopics.entries)).toEqual([]);
    await tester.close();
  });

  describe('refuses to start, as the application would,', () => {
    it('with a handler declared by a bare @EventPattern, which no group would run', async () => {
      @Controller()
      class Orphan extends SumProcessor {
        @EventPattern<string>('big', { group: 'sum' })
        echo(): void {}
      }

      await expect(StreamsTester.forModule(sumGroup, moduleOf(Orphan))).rejects.toThrow('stream handlers are declared with @GroupHandler(group, topic)');
    });

    it("with a handler that asks for Nest's per-call pipeline (a pipe), which it would not get", async () => {
      class PositiveOnly implements PipeTransform<Int64Value> {
        transform(number: Int64Value): Int64Value {
          if (number.value <= 0n) throw new PoisonRecordError(`${number.value} is not positive`);
          return number;
        }
      }
      @Controller()
      class PipedSum {
        @GroupHandler(sumGroup, sumTopics.numbers)
        add(@Payload(PositiveOnly) number: Int64Value, @Ctx() ctx: ProcessorContext<Sum>): void {
          ctx.setValue({ sum: String(number.value), count: 1 });
        }
      }

      await expect(StreamsTester.forModule(sumGroup, moduleOf(PipedSum))).rejects.toThrow(
        "PipedSum.add: a group handler is called with (payload, context) only, without Nest's per-call pipeline; remove its parameter 0 decorator",
      );
    });

    it('with a handler whose group the module does not declare', async () => {
      @Module({ controllers: [SumProcessor] })
      class Undeclared {}

      await expect(StreamsTester.forModule(sumGroup, Undeclared)).rejects.toThrow(
        'the handler for topic numbers belongs to group sum, which is not declared here (StreamsModule.forGroup)',
      );
    });

    it('with an input of a declared group that has no handler', async () => {
      @Controller()
      class Idle {}

      await expect(StreamsTester.forModule(sumGroup, moduleOf(Idle))).rejects.toThrow('group sum has no handler for its input numbers');
    });
  });
});

/** A module declaring `group` (the sum group unless told) with `processor` as its only controller. */
function moduleOf(processor: new (...args: never[]) => object, group = sumGroup) {
  @Module({ imports: [StreamsModule.forGroup(group)], controllers: [processor] })
  class TestModule {}
  return TestModule;
}

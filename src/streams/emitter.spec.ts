import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import { jest } from '@jest/globals';
import { type Delivery, EmitError, Emitter } from './emitter.js';
import { ProduceError } from './producer.js';
import { InMemoryProducer, inMemoryEmitter } from './testing/in-memory-producer.js';
import { sumTopics } from '../../test/apps/sum-group.js';

const LINGER_MS = 5;
const TIMEOUT_MS = 100;

/** How an emit ended, caught as soon as it is made (a rejection is no unhandled one). */
const outcome = (delivery: Promise<Delivery>): Promise<{ value?: Delivery; error?: EmitError }> =>
  delivery.then(
    (value) => ({ value }),
    (error: unknown) => ({ error: error as EmitError }),
  );

describe(Emitter.name, () => {
  let producer: InMemoryProducer;
  let sut: Emitter;
  const emit = (key: string, value = 1n) => outcome(sut.emit(sumTopics.numbers, key, create(Int64ValueSchema, { value })));

  beforeEach(() => {
    jest.useFakeTimers();
    producer = new InMemoryProducer();
    sut = inMemoryEmitter(producer, { lingerMs: LINGER_MS, timeoutMs: TIMEOUT_MS });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('gathers the emits of a linger into one send, and tells each where Kafka wrote it', async () => {
    const emits = [emit('a', 1n), emit('a', 2n), emit('b', 3n)];
    await jest.advanceTimersByTimeAsync(LINGER_MS - 1);
    expect(producer.sends).toHaveLength(0);

    await jest.advanceTimersByTimeAsync(1);
    producer.acknowledge();

    expect(producer.sends).toHaveLength(1);
    expect(producer.sends[0].map(({ topic, key }) => `${topic}/${key}`)).toEqual(['numbers/a', 'numbers/a', 'numbers/b']);
    const [a1, a2, b] = await Promise.all(emits);
    const partitionA = sut.partitionOf(sumTopics.numbers, 'a');
    expect(a1).toEqual({ value: { topic: 'numbers', partition: partitionA, offset: 0 } });
    expect(a2).toEqual({ value: { topic: 'numbers', partition: partitionA, offset: 1 } });
    expect(b).toEqual({ value: { topic: 'numbers', partition: sut.partitionOf(sumTopics.numbers, 'b'), offset: expect.any(Number) } });
  });

  it('tells each emit its own offset when the send took several requests, each acknowledged apart', async () => {
    producer = new InMemoryProducer({ chunkRecords: 2 });
    sut = inMemoryEmitter(producer, { lingerMs: LINGER_MS, timeoutMs: TIMEOUT_MS });
    const emits = [emit('a'), emit('a'), emit('a'), emit('b')];
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    producer.acknowledge();

    const offsets = (await Promise.all(emits)).map((result) => result.value?.offset);
    expect(offsets).toEqual([0, 1, 2, 0]);
  });

  it('keeps one send in flight: emits made meanwhile go together in the next', async () => {
    const first = emit('a');
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    const later = [emit('a'), emit('a')];
    await jest.advanceTimersByTimeAsync(LINGER_MS * 4);
    expect(producer.sends).toHaveLength(1);

    producer.acknowledge();
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    producer.acknowledge();

    expect(producer.sends.map((records) => records.length)).toEqual([1, 2]);
    expect((await first).value?.offset).toBe(0);
    expect((await Promise.all(later)).map((result) => result.value?.offset)).toEqual([1, 2]);
  });

  it('fails an emit Kafka does not answer in time, certain it was not sent only if it never left', async () => {
    const inFlight = emit('a');
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    const queued = emit('b');

    await jest.advanceTimersByTimeAsync(TIMEOUT_MS);
    producer.acknowledge();
    await jest.advanceTimersByTimeAsync(LINGER_MS);

    expect((await inFlight).error).toEqual(new EmitError(`Kafka did not acknowledge within ${TIMEOUT_MS} ms`, false));
    expect((await inFlight).error?.notSent).toBe(false);
    expect((await queued).error?.notSent).toBe(true);
    expect(producer.sends).toHaveLength(1);
  });

  it('fails every emit of a failed send, passing on whether it was certainly not sent', async () => {
    const emits = [emit('a'), emit('b')];
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    producer.fail(new ProduceError('broker down', true));

    for (const { error } of await Promise.all(emits)) {
      expect(error).toBeInstanceOf(EmitError);
      expect(error).toMatchObject({ message: 'broker down', notSent: true });
    }
  });

  it('after a failure, refuses emits at once for a second without sending them, then sends again', async () => {
    const failed = emit('a');
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    producer.fail(new ProduceError('request timed out', false));
    expect((await failed).error?.notSent).toBe(false);

    expect((await emit('a')).error).toMatchObject({ message: 'Kafka is unavailable', notSent: true });
    expect(producer.sends).toHaveLength(1);

    await jest.advanceTimersByTimeAsync(1000);
    const retried = emit('a');
    await jest.advanceTimersByTimeAsync(LINGER_MS);
    producer.acknowledge();

    expect((await retried).value).toMatchObject({ offset: 0 });
    expect(producer.sends).toHaveLength(2);
  });
});

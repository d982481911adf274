/**
 * The raw kafkajs ceilings on the same broker, in the same run: an idempotent acks=all
 * producer sending 5,000 records per send, and an eachBatch consumer doing nothing with them.
 * The records are real protobuf Deposits, encoded before the clock starts.
 */
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { newDeposit } from '../../src/contracts/deposit-event';
import { topics } from '../../src/contracts/topic-map';
import { partitionFor } from '../../src/streams/index';
import type { BenchEnv } from '../lib/env';
import { PARTITIONS, createStreamTopic } from '../lib/kafka';
import { type ScenarioResult, median, newResult, record } from '../lib/results';
import { Workload } from '../lib/workload';

export interface Ceilings {
  produceRate: number;
  consumeRate: number;
}

export async function baseline(env: BenchEnv, options: { reps: number; count: number; perSend: number }): Promise<{ result: ScenarioResult; ceilings: Ceilings }> {
  const result = newResult(
    'Ceiling',
    'Raw kafkajs on the same broker',
    `${options.count.toLocaleString('en')} Deposit records (protobuf, ~80 bytes) over 6 partitions: producer idempotent, acks=all, ${options.perSend.toLocaleString('en')} per send, one send at a time; consumer: a fresh group, eachBatch, nothing done per record (rate from joining the group to its last batch)`,
  );
  const workload = new Workload(options.count, 100_000, { seed: 5 });
  const batches: Array<Array<{ key: string; value: Buffer; partition: number }>> = [];
  for (let from = 0; from < options.count; from += options.perSend) {
    const batch = [];
    for (let index = from; index < Math.min(options.count, from + options.perSend); index++) {
      const { walletId, amountMinor, acceptedAtMs } = workload.spec(index);
      const bytes = topics.deposit.codec.encode(newDeposit(walletId, amountMinor, acceptedAtMs));
      batch.push({ key: walletId, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), partition: partitionFor(walletId, PARTITIONS) });
    }
    batches.push(batch);
  }
  const produceRates: number[] = [];
  const consumeRates: number[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const topic = `${env.prefix('ceiling')}deposit`;
    await createStreamTopic(env.admin, topic);
    const producer = env.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const started = performance.now();
    for (const messages of batches) await producer.send({ topic, acks: -1, messages });
    const produceRate = options.count / ((performance.now() - started) / 1000);
    await producer.disconnect();

    const consumer = env.kafka.consumer({ groupId: `bench-ceiling-${randomUUID()}`, maxBytesPerPartition: 2 * 1024 * 1024, maxBytes: 32 * 1024 * 1024, maxWaitTimeInMs: 250 });
    let consumed = 0;
    let joined = 0;
    let last = 0;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = performance.now();
    });
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        consumed += batch.messages.length;
        last = performance.now();
        if (consumed >= options.count) finish();
      },
    });
    await done;
    await consumer.disconnect();
    const consumeRate = consumed / ((last - joined) / 1000);
    produceRates.push(produceRate);
    consumeRates.push(consumeRate);
    record(result, { label: 'producer, acks=all, idempotent', unit: 'rec/s', better: 'higher', original: 97_000 }, produceRate);
    record(result, { label: 'consumer, eachBatch', unit: 'rec/s', better: 'higher', original: 474_000 }, consumeRate);
    result.checks.push(`run ${rep + 1}: ${consumed.toLocaleString('en')} of ${options.count.toLocaleString('en')} records consumed back`);
    if (consumed !== options.count) result.failures.push(`run ${rep + 1}: consumed ${consumed} records of ${options.count}`);
    await env.dropTopics(topic.slice(0, -'deposit'.length));
  }
  result.notes!.push("The 'original' column holds the ceilings measured beside the Go service in issue 7.");
  return { result, ceilings: { produceRate: median(produceRates), consumeRate: median(consumeRates) } };
}

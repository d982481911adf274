/**
 * The streams core alone, without the wallet domain: the `sum` test group
 * (test/apps/sum-app.ts, one table update and one store entry per record) processing
 * N int64 numbers over K keys from empty stores, then, its data folder deleted, restoring its
 * table and store cold from their changelogs.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { ManagedProcess } from '../../scripts/lib/managed-process';
import { partitionFor } from '../../src/streams/index';
import { type Sum, jsonCodec } from '../../test/apps/sum-group';
import type { BenchEnv } from '../lib/env';
import { PARTITIONS, committedOffsets, createStreamTopic, endOffsets, readTable } from '../lib/kafka';
import { type ScenarioResult, newResult, record } from '../lib/results';

export async function core(env: BenchEnv, options: { reps: number; count: number; keys: number }): Promise<ScenarioResult> {
  const { count, keys } = options;
  const result = newResult(
    'Core',
    'The streams core alone: the sum test group',
    `${count.toLocaleString('en')} int64 numbers over ${keys.toLocaleString('en')} keys on 6 partitions; \`node dist-test/test/apps/sum-app.js\` (each record: its key's sum in the table, one store entry, one transaction per batch and partition) from empty stores to lag 0; then SIGTERM, its DATA_DIR deleted, started again until every partition is restored`,
  );
  const number = (index: number) => BigInt((index % 97) + 1);
  const expected = new Map<string, { sum: bigint; count: number }>();
  for (let index = 0; index < count; index++) {
    const key = `k${index % keys}`;
    const entry = expected.get(key) ?? { sum: 0n, count: 0 };
    entry.sum += number(index);
    entry.count++;
    expected.set(key, entry);
  }

  for (let rep = 0; rep < options.reps; rep++) {
    const prefix = env.prefix('core');
    const input = `${prefix}numbers`;
    await createStreamTopic(env.admin, input);
    const producer = env.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let from = 0; from < count; from += 5000) {
      const messages = [];
      for (let index = from; index < Math.min(count, from + 5000); index++) {
        const key = `k${index % keys}`;
        const value = Buffer.from(toBinary(Int64ValueSchema, create(Int64ValueSchema, { value: number(index) })));
        messages.push({ key, value, partition: partitionFor(key, PARTITIONS) });
      }
      await producer.send({ topic: input, acks: -1, messages });
    }
    await producer.disconnect();

    const dataDir = env.dataDir('core');
    const sumApp = () =>
      new ManagedProcess('sum-app', join(env.options.rootDir, 'dist-test/test/apps/sum-app.js'), [], {
        KAFKA_BROKERS: env.brokers,
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_PARTITIONS: String(PARTITIONS),
        DATA_DIR: dataDir,
      }, { node: env.options.node });
    const started = Date.now();
    let app = sumApp();
    try {
      await app.waitFor(/joined/);
      const joined = Date.now();
      const ends = (await endOffsets(env.admin, input))!;
      for (;;) {
        if (!app.running) throw new Error(`the sum app exited: ${app.output.slice(-5).join('\n')}`);
        const committed = await committedOffsets(env.admin, `${prefix}sum`, input);
        if (ends.every((end, partition) => (committed[partition] ?? 0) >= end)) break;
        await sleep(50);
      }
      const done = Date.now();
      record(result, { label: 'records processed per second (from joining the group)', unit: 'rec/s', better: 'higher' }, count / ((done - joined) / 1000));
      record(result, { label: 'time to lag 0, from process start', unit: 's', better: 'lower', info: true }, (done - started) / 1000);
      await app.kill('SIGTERM');

      rmSync(dataDir, { recursive: true, force: true });
      const restartedAt = Date.now();
      app = sumApp();
      const restoredLines = () => app.lines(/restored \d+ records in/);
      while (restoredLines().length < PARTITIONS) {
        if (!app.running) throw new Error(`the sum app exited while restoring: ${app.output.slice(-5).join('\n')}`);
        await sleep(20);
      }
      const restoredAt = Date.now();
      const restored = restoredLines().reduce((sum, line) => sum + Number(/restored (\d+) records/.exec(line)![1]), 0);
      const slowest = Math.max(...restoredLines().map((line) => Number(/records in ([\d.]+) s/.exec(line)![1])));
      record(result, { label: 'records restored cold per second (slowest partition)', unit: 'rec/s', better: 'higher' }, restored / slowest);
      record(result, { label: 'cold restore, from process start', unit: 's', better: 'lower', info: true }, (restoredAt - restartedAt) / 1000);
      record(result, { label: 'changelog records restored', unit: 'records', better: 'higher', info: true }, restored);
    } finally {
      await app.kill('SIGKILL');
    }

    const table = await readTable(env.kafka, env.admin, `${prefix}sums`, jsonCodec<Sum>().decode);
    let wrong = 0;
    for (const [key, want] of expected) {
      const got = table.get(key);
      if (!got || BigInt(got.sum) !== want.sum || got.count !== want.count) wrong++;
    }
    wrong += [...table.keys()].filter((key) => !expected.has(key)).length;
    result.checks.push(`run ${rep + 1}: ${(expected.size - wrong).toLocaleString('en')} of ${expected.size.toLocaleString('en')} keys with the exact sum and count in the table's changelog`);
    if (wrong > 0) result.failures.push(`run ${rep + 1}: ${wrong} keys wrong in the sums table`);
    await env.dropTopics(prefix);
  }
  result.notes!.push('Restored records are the changelogs of the table (the latest sum of every key) and of the store (one entry per record, under `<key>/<count>`).');
  return result;
}

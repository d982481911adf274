import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import type { Admin, Producer } from 'kafkajs';
import { StreamsRuntime } from '../src/streams/streams-runtime.js';
import { type Sum, sumTopics } from '../src/streams/testing/sum-group.js';
import type { View } from '../src/streams/view.js';
import { TestProcess } from './support/processes.js';
import { brokers, endOffsets, eventually, groupLag, testKafka, uniquePrefix } from './support/kafka.js';

/**
 * The streams core against a real broker, through the `sum` test group running in child
 * processes (dist/streams/testing/sum-app.js) that are killed with SIGKILL and restarted.
 * Each test has its own topics (a unique prefix) and its own local stores.
 */
describe('streams core on a real broker', () => {
  const kafka = testKafka();
  let admin: Admin;
  let producer: Producer;
  const scratch = mkdtempSync(join(tmpdir(), 'depositaja-core-'));
  const started: TestProcess[] = [];
  const runtimes: StreamsRuntime[] = [];

  beforeAll(async () => {
    admin = kafka.admin();
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.kill()));
    await Promise.all(runtimes.splice(0).map((runtime) => runtime.onApplicationShutdown()));
  });

  afterAll(async () => {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
    rmSync(scratch, { recursive: true, force: true });
  });

  /** One test's world: its topic prefix, the sum-app processes it starts, the view it reads. */
  function world(name: string, partitions = 6) {
    const prefix = uniquePrefix(name);
    const topic = (logical: string) => `${prefix}${logical}`;
    const expected = new Map<string, { sum: bigint; count: number }>();

    const startProcessor = (instance: string, extraEnv: Record<string, string> = {}) => {
      const child = new TestProcess(`sum-app ${instance}`, 'dist/streams/testing/sum-app.js', [], {
        KAFKA_BROKERS: brokers().join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_PARTITIONS: String(partitions),
        DATA_DIR: join(scratch, prefix, instance),
        // A killed member holds its partitions until its session expires.
        KAFKA_SESSION_TIMEOUT_MS: '3000',
        ...extraEnv,
      });
      started.push(child);
      return child;
    };

    let inputCreated = false;
    const send = async (records: Array<[key: string, value: bigint]>) => {
      if (!inputCreated) {
        // The broker does not create topics on use: the input exists before the first send.
        await admin.createTopics({ topics: [{ topic: topic('numbers'), numPartitions: partitions }], waitForLeaders: true });
        inputCreated = true;
      }
      for (const [key, value] of records) {
        const entry = expected.get(key) ?? { sum: 0n, count: 0 };
        expected.set(key, { sum: entry.sum + value, count: entry.count + 1 });
      }
      await producer.send({
        topic: topic('numbers'),
        acks: -1,
        messages: records.map(([key, value]) => ({ key, value: Buffer.from(toBinary(Int64ValueSchema, create(Int64ValueSchema, { value }))) })),
      });
    };

    const openView = async (): Promise<View<Sum>> => {
      const runtime = new StreamsRuntime({
        connection: {
          brokers: brokers(),
          clientId: 'e2e-view',
          topicPrefix: prefix,
          partitions,
          replicationFactor: 1,
          minInsyncReplicas: 1,
          sessionTimeoutMs: 6000,
        },
        dataDir: join(scratch, prefix, 'view'),
        emitter: { lingerMs: 1, timeoutMs: 5000 },
      });
      runtimes.push(runtime);
      const view = runtime.view(sumTopics.sums);
      await runtime.onModuleInit();
      return view;
    };

    /** Waits until the group has committed every record and the view has read every change. */
    const settle = async (view: View<Sum>, timeoutMs = 90_000) => {
      await eventually('the sum group to commit every record', async () => (await groupLag(admin, topic('sum'), topic('numbers'))) === 0, timeoutMs);
      const ends = await endOffsets(admin, topic('sums'));
      await eventually('the view to read the whole changelog', () =>
        view.status().partitions.every(({ partition, position }) => position >= (ends.get(partition) ?? 0)),
      );
    };

    /** Every key's sum and count in the view, against what was sent. */
    const differences = (view: View<Sum>) => {
      const wrong: string[] = [];
      for (const [key, { sum, count }] of expected) {
        const actual = view.get(key);
        if (actual?.sum !== String(sum) || actual.count !== count) {
          wrong.push(`${key}: expected ${sum}/${count}, got ${actual ? `${actual.sum}/${actual.count}` : 'nothing'}`);
        }
      }
      return wrong;
    };

    return { prefix, topic, expected, startProcessor, send, openView, settle, differences };
  }

  const numbers = (count: number, keys: number, seed: number): Array<[string, bigint]> =>
    Array.from({ length: count }, (_, i) => [`key-${(i * 7 + seed) % keys}`, BigInt(((i + seed) % 97) + 1)]);

  it('applies N records with known keys: table and changelog hold the exact sums', async () => {
    const w = world('exact');
    const processor = w.startProcessor('a');
    await processor.waitFor(/joined; owns partitions \[0, 1, 2, 3, 4, 5\]/);
    await w.send(numbers(5000, 50, 1));
    const view = await w.openView();
    await w.settle(view);

    expect(w.differences(view)).toEqual([]);
    expect(w.expected.size).toBe(50);
  }, 120_000);

  it('counts every record exactly once while the processor is killed with SIGKILL again and again', async () => {
    const w = world('kill9');
    let processor = w.startProcessor('a');
    await processor.waitFor(/joined/);
    const sending = (async () => {
      for (let round = 0; round < 40; round++) {
        await w.send(numbers(500, 200, round));
        await sleep(100);
      }
    })();
    for (let kill = 0; kill < 5; kill++) {
      await sleep(800 + kill * 150);
      await processor.kill('SIGKILL');
      processor = w.startProcessor('a');
      await processor.waitFor(/joined/);
    }
    await sending;
    const view = await w.openView();
    await w.settle(view);

    expect(w.differences(view)).toEqual([]);
    expect([...w.expected.values()].reduce((n, entry) => n + entry.count, 0)).toBe(20_000);
  }, 240_000);

  it.each(['outputs-produced', 'changelog-produced', 'store-written'])(
    'counts every record exactly once when the processor dies right after the commit step "%s"',
    async (step) => {
      const w = world(`crash-${step}`);
      // Many small produce requests make many small record batches, hence many small fetches.
      const records = numbers(6000, 300, 3);
      for (let i = 0; i < records.length; i += 60) await w.send(records.slice(i, i + 60));
      let crashes = 0;
      // Restart the processor each time it kills itself at the step, until it got through.
      for (;;) {
        const processor = w.startProcessor('a', { SUM_APP_CRASH: `${step}:0.1`, SUM_APP_BATCH_BYTES: '4096' });
        const exit = await Promise.race([processor.exited, processor.waitFor(/joined/).then(() => undefined)]);
        if (exit === undefined) {
          const lag = async () => groupLag(admin, w.topic('sum'), w.topic('numbers'));
          while (processor.running && (await lag()) > 0) await sleep(100);
          if (processor.running) {
            await processor.kill('SIGTERM');
            break;
          }
        }
        const { signal } = await processor.exited;
        expect(signal).toBe('SIGKILL');
        crashes++;
      }
      const view = await w.openView();
      await w.settle(view);

      expect(w.differences(view)).toEqual([]);
      expect(crashes).toBeGreaterThanOrEqual(3);
    },
    240_000,
  );
});

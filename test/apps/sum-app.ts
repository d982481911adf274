/**
 * A process that runs only the `sum` test group on the streams core: the core's end-to-end
 * tests start it, kill it and start it again; the bench's core scenario measures it. Built by
 * `npm run build:test-apps` into dist-test/test/apps/sum-app.js. Configured by KAFKA_BROKERS,
 * KAFKA_TOPIC_PREFIX, KAFKA_PARTITIONS and DATA_DIR. Exits 0 on SIGTERM after a clean stop.
 *
 * SUM_APP_CRASH=<step>:<n> makes it SIGKILL itself right after that commit step
 * (transaction-sent, transaction-committed, store-written, offsets-committed) of its n-th batch:
 * the crashes a counting-once protocol must survive.
 * SUM_APP_BATCH_BYTES caps the bytes fetched per partition and batch (small: many batches).
 * SUM_APP_OFFSET_COMMIT_MS sets how often the group commits its offsets while it keeps working.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { CommitStep } from '../../src/streams/partition-state.js';
import { StreamsModule } from '../../src/streams/streams.module.js';
import { startStreams } from '../../src/streams/transport.js';
import { SumModule } from './sum-processor.js';

const env = (name: string, fallback?: string) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

function crashHook(spec: string | undefined): ((step: CommitStep) => void) | undefined {
  if (!spec) return undefined;
  const [at, nth] = spec.split(':');
  let seen = 0;
  return (step) => {
    if (step === at && ++seen === Number(nth)) {
      console.log(`sum-app crashing after ${step}`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}

@Module({
  imports: [
    StreamsModule.forRoot({
      connection: {
        brokers: env('KAFKA_BROKERS').split(','),
        clientId: 'sum-app',
        topicPrefix: env('KAFKA_TOPIC_PREFIX', ''),
        partitions: Number(env('KAFKA_PARTITIONS', '6')),
        replicationFactor: 1,
        minInsyncReplicas: 1,
        changelogSegmentBytes: process.env.KAFKA_CHANGELOG_SEGMENT_BYTES ? Number(process.env.KAFKA_CHANGELOG_SEGMENT_BYTES) : undefined,
        sessionTimeoutMs: Number(env('KAFKA_SESSION_TIMEOUT_MS', '6000')),
        batchBytes: process.env.SUM_APP_BATCH_BYTES ? Number(process.env.SUM_APP_BATCH_BYTES) : undefined,
        offsetCommitIntervalMs: process.env.SUM_APP_OFFSET_COMMIT_MS ? Number(process.env.SUM_APP_OFFSET_COMMIT_MS) : undefined,
      },
      dataDir: env('DATA_DIR'),
      emitter: { lingerMs: 1, timeoutMs: 5000 },
      afterCommitStep: crashHook(process.env.SUM_APP_CRASH),
    }),
    SumModule,
  ],
})
class SumAppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(SumAppModule, new FastifyAdapter(), { logger: ['log', 'warn', 'error', 'fatal'] });
  await app.init();
  await startStreams(app);
  console.log('sum-app started');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void app.close().then(() => {
        console.log('sum-app stopped');
        process.exit(0);
      });
    });
  }
}

main().catch((error: unknown) => {
  console.error(`sum-app failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

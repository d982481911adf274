// Loaded by jest through require(), outside its module mapper: imports are written without .js.
import { prepareClassArchive, startLocalKafka, stopLocalKafka, wipeLocalKafka } from '../../scripts/kafka/launcher';
import { testKafkaOptions } from './local-kafka';

/**
 * Starts the end-to-end tests' broker, or reuses one that runs already (or the cluster named by
 * KAFKA_BROKERS). Only a broker started here is stopped by the teardown.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.KAFKA_BROKERS) return;
  const options = { ...testKafkaOptions(), log: (line: string) => process.stderr.write(`\n[kafka] ${line}`) };
  // Once per machine (~7 s; CI's `npm run kafka:jars` did it already): the suites start a dozen
  // brokers more, each ~1 s sooner from the archive, and none writes one of its own as it stops.
  await prepareClassArchive(options);
  const result = await startLocalKafka(options).catch(async (error: unknown) => {
    // A test broker whose data a killed run left half-written is started afresh, once.
    await stopLocalKafka(options);
    wipeLocalKafka(options);
    process.stderr.write(`\n[kafka] first start failed (${(error as Error).message.split('\n')[0]}); retrying on fresh data`);
    return startLocalKafka(options);
  });
  process.env.KAFKA_BROKERS = result.brokers;
  process.env.DEPOSITAJA_TEST_STARTED_KAFKA = result.started ? '1' : '';
}

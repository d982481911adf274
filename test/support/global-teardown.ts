// Loaded by jest through require(), outside its module mapper: imports are written without .js.
import { stopLocalKafka } from '../../scripts/kafka/launcher';
import { testKafkaOptions } from './local-kafka';

export default async function globalTeardown(): Promise<void> {
  if (process.env.DEPOSITAJA_TEST_STARTED_KAFKA === '1' && !process.env.KEEP_KAFKA) {
    await stopLocalKafka(testKafkaOptions());
  }
}

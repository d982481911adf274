import { type LocalKafkaOptions, defaultLocalKafkaOptions } from '../../scripts/kafka/launcher';

/** The broker instance of the end-to-end tests: apart from `npm start`'s, on its own ports. */
export function testKafkaOptions(): LocalKafkaOptions {
  return {
    ...defaultLocalKafkaOptions(process.cwd()),
    instance: 'test',
    port: Number(process.env.TEST_KAFKA_PORT ?? 19092),
  };
}

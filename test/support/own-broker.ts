import { type LocalKafkaOptions, defaultLocalKafkaOptions, startLocalKafka, stopLocalKafka, wipeLocalKafka } from '../../scripts/kafka/launcher';

/**
 * A broker of a test's own, for tests that stop and restart it (the shared test broker must
 * stay up for the others). Fresh data each time.
 */
export class OwnBroker {
  readonly options: LocalKafkaOptions;

  constructor(instance: string, port: number) {
    this.options = { ...defaultLocalKafkaOptions(process.cwd()), instance, port };
  }

  get brokers(): string {
    return `127.0.0.1:${this.options.port}`;
  }

  async start(fresh = false): Promise<void> {
    if (fresh) {
      await stopLocalKafka(this.options);
      wipeLocalKafka(this.options);
    }
    await startLocalKafka(this.options);
  }

  async stop(): Promise<void> {
    await stopLocalKafka(this.options);
  }

  async destroy(): Promise<void> {
    await stopLocalKafka(this.options);
    wipeLocalKafka(this.options);
  }
}

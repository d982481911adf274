import { type LocalKafkaOptions, defaultLocalKafkaOptions, startLocalKafka, stopLocalKafka, wipeLocalKafka } from '../../scripts/kafka/launcher';

/**
 * Options of a throwaway local Kafka instance, on ports of its own apart from the shared test
 * broker: for tests that stop, restart or reconfigure their broker.
 */
export function throwawayKafkaOptions(instance: string, port: number, more: Partial<LocalKafkaOptions> = {}): LocalKafkaOptions {
  return { ...defaultLocalKafkaOptions(process.cwd()), instance, port, timeoutMs: 180_000, ...more };
}

/**
 * A broker (or cluster) of a test's own, for tests that stop and restart it (the shared test
 * broker must stay up for the others). Fresh data each time.
 */
export class OwnBroker {
  readonly options: LocalKafkaOptions;

  constructor(instance: string, port: number, more: Partial<LocalKafkaOptions> = {}) {
    this.options = throwawayKafkaOptions(instance, port, more);
  }

  /** Client addresses of every node (node i listens on port + 2i). */
  get brokers(): string {
    return Array.from({ length: this.options.nodes }, (_, node) => `127.0.0.1:${this.options.port + 2 * node}`).join(',');
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

import { Logger } from '@nestjs/common';
import { errorMessage } from './context.js';
import { type KafkaCluster, type KafkaConnection, createKafka, readerCluster } from './kafka-client.js';

/**
 * Whether Kafka answers right now, asked every few seconds with a client that fails fast
 * rather than retry: what readiness and `kafka_reachable` report.
 *
 * It asks for the metadata of no topic (kafkajs-cluster.ts, `refreshingNoTopics`): whether the
 * cluster answers, not what it holds. kafkajs's admin `describeCluster` asked for every topic's
 * too, on every thread that runs the service's streams: a shared cluster's thousands of topics
 * (1,674 on this project's development broker), decoded every two seconds.
 */
export class KafkaProbe {
  private readonly logger = new Logger('Streams');
  private readonly cluster: KafkaCluster;
  private timer?: NodeJS.Timeout;
  reachable = false;

  constructor(connection: KafkaConnection) {
    this.cluster = readerCluster(createKafka(connection, { retry: { retries: 0 }, connectionTimeout: 1000, requestTimeout: 2000 }));
  }

  /** Starts asking every `intervalMs`; `reachable` is true already (start-up has just reached Kafka). */
  start(intervalMs = 2000): void {
    this.reachable = true;
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.probe(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.cluster.disconnect().catch(() => undefined);
  }

  private async probe(): Promise<void> {
    try {
      await this.cluster.connect();
      await this.cluster.refreshMetadata();
      if (!this.reachable) this.logger.log(`Kafka reachable again`);
      this.reachable = true;
    } catch (error) {
      if (this.reachable) this.logger.warn(`Kafka unreachable: ${errorMessage(error)}`);
      this.reachable = false;
      await this.cluster.disconnect().catch(() => undefined);
    }
  }
}

import { Logger } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { errorMessage } from './context.js';
import { type KafkaConnection, createKafka } from './kafka-client.js';

/**
 * Whether Kafka answers right now, asked every few seconds with a client that fails fast
 * rather than retry: what readiness and `kafka_reachable` report.
 */
export class KafkaProbe {
  private readonly logger = new Logger('Streams');
  private readonly admin: Admin;
  private timer?: NodeJS.Timeout;
  reachable = false;

  constructor(connection: KafkaConnection) {
    this.admin = createKafka(connection, { retry: { retries: 0 }, connectionTimeout: 1000, requestTimeout: 2000 }).admin();
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
    await this.admin.disconnect().catch(() => undefined);
  }

  private async probe(): Promise<void> {
    try {
      await this.admin.connect();
      await this.admin.describeCluster();
      if (!this.reachable) this.logger.log(`Kafka reachable again`);
      this.reachable = true;
    } catch (error) {
      if (this.reachable) this.logger.warn(`Kafka unreachable: ${errorMessage(error)}`);
      this.reachable = false;
      await this.admin.disconnect().catch(() => undefined);
    }
  }
}

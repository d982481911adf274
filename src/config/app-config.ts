import type { KafkaConnection } from '../streams/index.js';

/*
 * What the configuration is, apart from how it is read (config.ts, with class-validator): a
 * processor thread gets the configuration its main thread validated, and loads none of that.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The whole configuration, by namespace; built once at start-up and injected as {@link AppConfig}. */
export interface AppConfigShape {
  /** How the streams core reaches Kafka. */
  kafka: KafkaConnection;
  http: {
    host: string;
    port: number;
    requestTimeoutMs: number;
    /** How long an idle keep-alive connection stays open; longer than any load balancer's idle timeout in front. */
    keepAliveTimeoutMs: number;
    maxInFlightRequests: number;
    /** The latency the adaptive concurrency limit keeps the 90th percentile under; 0: a fixed limit. */
    overloadLatencyMs: number;
    /** Descriptors of the listening socket the HTTP thread polls: connections it accepts per event-loop turn, at most. */
    acceptQueues: number;
    produceLingerMs: number;
    checkMaxWaitMs: number;
  };
  dataDir: string;
  /** How many values read lately each view of the API keeps decoded in memory; 0: none. */
  viewCacheValues: number;
  /**
   * Worker threads that run the processor groups beside the main thread (which serves HTTP);
   * 0 runs them on the main thread. From PROCESSOR_THREADS; see `processorThreadCount`.
   */
  processorThreads: number | 'auto';
  /**
   * The niceness of the processor threads of a process that serves the API (Linux): when they
   * and the HTTP thread want the same core, HTTP comes first. From PROCESSOR_THREAD_NICE.
   */
  processorThreadNice: number;
  threshold: { amountMinor: bigint; windowMs: number };
  admin: { token?: string };
  log: { level: LogLevel; format: 'json' | 'pretty' };
}

/** Injection token and type of the configuration. */
export abstract class AppConfig implements AppConfigShape {
  abstract kafka: AppConfigShape['kafka'];
  abstract http: AppConfigShape['http'];
  abstract dataDir: string;
  abstract viewCacheValues: number;
  abstract processorThreads: number | 'auto';
  abstract processorThreadNice: number;
  abstract threshold: AppConfigShape['threshold'];
  abstract admin: AppConfigShape['admin'];
  abstract log: AppConfigShape['log'];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

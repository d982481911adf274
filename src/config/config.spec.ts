import { ConfigError } from './app-config.js';
import { loadConfig } from './config.js';

describe(loadConfig.name, () => {
  it('reads defaults, and the threshold as exact minor units', () => {
    const config = loadConfig({ THRESHOLD_AMOUNT: '10000.01' });

    expect(config.kafka).toMatchObject({ brokers: ['127.0.0.1:9092'], partitions: 6, replicationFactor: 'auto', minInsyncReplicas: undefined, commitIntervalMs: 100, commitIntervalMinMs: 50, batchBytes: 8_388_608, changelogSegmentBytes: 2_097_152 });
    expect(config.threshold).toEqual({ amountMinor: 1_000_001n, windowMs: 120_000 });
    expect(config.http.port).toBe(8080);
    expect(config.viewCacheValues).toBe(100_000);
    expect(config.http.acceptQueues).toBe(512);
    expect(config.processorThreadNice).toBe(10);
    expect(loadConfig({ PROCESSOR_THREAD_NICE: '0' }).processorThreadNice).toBe(0);
  });

  it('waits at least 50 ms under a light load, or the commit interval when that is shorter', () => {
    expect(loadConfig({ KAFKA_COMMIT_INTERVAL_MS: '30' }).kafka).toMatchObject({ commitIntervalMs: 30, commitIntervalMinMs: 30 });
    expect(loadConfig({ KAFKA_COMMIT_INTERVAL_MIN_MS: '20' }).kafka).toMatchObject({ commitIntervalMs: 100, commitIntervalMinMs: 20 });
    expect(loadConfig({ KAFKA_COMMIT_INTERVAL_MIN_MS: '100' }).kafka).toMatchObject({ commitIntervalMs: 100, commitIntervalMinMs: 100 });
  });

  it('takes an explicit replication factor and min.insync.replicas', () => {
    expect(loadConfig({ KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' }).kafka).toMatchObject({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(() => loadConfig({ KAFKA_REPLICATION_FACTOR: 'three' })).toThrow('KAFKA_REPLICATION_FACTOR must be auto or an integer');
  });

  it.each([
    [{ PORT: '80a' }, 'PORT must be an integer (got "80a")'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    [{ KAFKA_PARTITIONS: '0' }, 'KAFKA_PARTITIONS must not be less than 1'],
    [{ KAFKA_COMMIT_INTERVAL_MS: '-1' }, 'KAFKA_COMMIT_INTERVAL_MS must not be less than 0'],
    [{ KAFKA_COMMIT_INTERVAL_MIN_MS: '150' }, 'KAFKA_COMMIT_INTERVAL_MIN_MS must not be more than KAFKA_COMMIT_INTERVAL_MS (got 150 and 100)'],
    [{ KAFKA_CHANGELOG_SEGMENT_BYTES: '1000' }, 'KAFKA_CHANGELOG_SEGMENT_BYTES must be at least 1048576 (1 MiB)'],
    [{ KAFKA_BATCH_BYTES: '4096' }, 'KAFKA_BATCH_BYTES must be at least 65536 (64 KiB)'],
    [{ HTTP_ACCEPT_QUEUES: '0' }, 'HTTP_ACCEPT_QUEUES must not be less than 1'],
    [{ PROCESSOR_THREAD_NICE: '20' }, 'PROCESSOR_THREAD_NICE must not be greater than 19'],
    [{ PROCESSOR_THREAD_NICE: '-5' }, 'PROCESSOR_THREAD_NICE must not be less than 0'],
    [{ THRESHOLD_AMOUNT: '10,000' }, 'THRESHOLD_AMOUNT must be plain decimal digits'],
    [{ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS must be host:port'],
    [{ KAFKA_SASL_MECHANISM: 'plain' }, 'KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD'],
  ])('refuses %p, naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes a secret it refuses', () => {
    expect(() => loadConfig({ ADMIN_TOKEN: 'short-secret' })).toThrow('ADMIN_TOKEN must be at least 16 characters');
    expect(() => loadConfig({ ADMIN_TOKEN: 'short-secret' })).not.toThrow('short-secret');
  });
});

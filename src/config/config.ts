import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import {
  IsBooleanString,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { Type } from 'class-transformer';
import { InvalidAmountError, parseAmount } from '../money/money.js';
import { type AppConfigShape, ConfigError, LOG_LEVELS, type LogLevel } from './app-config.js';

/**
 * The environment as the service reads it: every variable it knows, validated at start-up.
 * Defaults live here and in the README's configuration table, nowhere else.
 */
class Environment {
  @IsString()
  @Matches(/^[^\s,]+:\d{1,5}(,[^\s,]+:\d{1,5})*$/, { message: 'KAFKA_BROKERS must be host:port[,host:port…]' })
  KAFKA_BROKERS = '127.0.0.1:9092';

  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,100}$/, { message: 'KAFKA_CLIENT_ID must be 1-100 characters of [A-Za-z0-9._-]' })
  KAFKA_CLIENT_ID = 'depositaja';

  @IsString()
  @Matches(/^[A-Za-z0-9._-]{0,100}$/, { message: 'KAFKA_TOPIC_PREFIX must be up to 100 characters of [A-Za-z0-9._-]' })
  KAFKA_TOPIC_PREFIX = '';

  @Type(() => Number)
  @Min(1)
  @Max(10_000)
  @IsInt({ message: 'KAFKA_PARTITIONS must be an integer' })
  KAFKA_PARTITIONS = 6;

  @IsString()
  @Matches(/^(auto|[1-9]\d?)$/, { message: 'KAFKA_REPLICATION_FACTOR must be auto or an integer from 1 to 99' })
  KAFKA_REPLICATION_FACTOR = 'auto';

  @IsOptional()
  @Type(() => Number)
  @Min(1)
  @IsInt({ message: 'KAFKA_MIN_INSYNC_REPLICAS must be an integer' })
  KAFKA_MIN_INSYNC_REPLICAS?: number;

  @Type(() => Number)
  @Min(1_048_576, { message: 'KAFKA_CHANGELOG_SEGMENT_BYTES must be at least 1048576 (1 MiB)' })
  @Max(1_073_741_824, { message: 'KAFKA_CHANGELOG_SEGMENT_BYTES must be at most 1073741824 (1 GiB)' })
  @IsInt({ message: 'KAFKA_CHANGELOG_SEGMENT_BYTES must be an integer' })
  KAFKA_CHANGELOG_SEGMENT_BYTES = 2_097_152;

  @IsBooleanString({ message: 'KAFKA_SSL must be true or false' })
  KAFKA_SSL = 'false';

  @IsOptional() @IsString() KAFKA_SSL_CA_FILE?: string;
  @IsOptional() @IsString() KAFKA_SSL_CERT_FILE?: string;
  @IsOptional() @IsString() KAFKA_SSL_KEY_FILE?: string;

  @IsBooleanString({ message: 'KAFKA_SSL_REJECT_UNAUTHORIZED must be true or false' })
  KAFKA_SSL_REJECT_UNAUTHORIZED = 'true';

  @IsOptional()
  @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'], {
    message: 'KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512',
  })
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';

  @IsOptional() @IsString() KAFKA_SASL_USERNAME?: string;
  @IsOptional() @IsString() KAFKA_SASL_PASSWORD?: string;

  @Type(() => Number)
  @Min(1000)
  @Max(300_000)
  @IsInt({ message: 'KAFKA_SESSION_TIMEOUT_MS must be an integer' })
  KAFKA_SESSION_TIMEOUT_MS = 10_000;

  @Type(() => Number)
  @Min(0)
  @Max(60_000)
  @IsInt({ message: 'KAFKA_COMMIT_INTERVAL_MS must be an integer' })
  KAFKA_COMMIT_INTERVAL_MS = 100;

  @IsOptional()
  @Type(() => Number)
  @Min(0)
  @Max(60_000)
  @IsInt({ message: 'KAFKA_COMMIT_INTERVAL_MIN_MS must be an integer' })
  KAFKA_COMMIT_INTERVAL_MIN_MS?: number;

  @Type(() => Number)
  @Min(65_536, { message: 'KAFKA_BATCH_BYTES must be at least 65536 (64 KiB)' })
  @Max(67_108_864, { message: 'KAFKA_BATCH_BYTES must be at most 67108864 (64 MiB)' })
  @IsInt({ message: 'KAFKA_BATCH_BYTES must be an integer' })
  KAFKA_BATCH_BYTES = 8_388_608;

  @Type(() => Number)
  @Min(0)
  @Max(65535)
  @IsInt({ message: 'PORT must be an integer' })
  PORT = 8080;

  @IsString()
  @MinLength(1)
  HOST = '0.0.0.0';

  @IsString()
  @MinLength(1)
  DATA_DIR = './data';

  @Type(() => Number)
  @Min(0)
  @Max(10_000_000)
  @IsInt({ message: 'VIEW_CACHE_VALUES must be an integer' })
  VIEW_CACHE_VALUES = 100_000;

  @IsString()
  THRESHOLD_AMOUNT = '10000';

  @Type(() => Number)
  @Min(1)
  @Max(30 * 24 * 3600 * 1000)
  @IsInt({ message: 'THRESHOLD_WINDOW_MS must be an integer' })
  THRESHOLD_WINDOW_MS = 120_000;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_TOKEN must be at least 16 characters' })
  @MaxLength(256, { message: 'ADMIN_TOKEN must be at most 256 characters' })
  ADMIN_TOKEN?: string;

  @IsIn(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  @IsOptional()
  @IsIn(['json', 'pretty'], { message: 'LOG_FORMAT must be json or pretty' })
  LOG_FORMAT?: 'json' | 'pretty';

  @Type(() => Number)
  @Min(0)
  @Max(1000)
  @IsInt({ message: 'PRODUCE_LINGER_MS must be an integer' })
  PRODUCE_LINGER_MS = 2;

  @Type(() => Number)
  @Min(100)
  @Max(600_000)
  @IsInt({ message: 'REQUEST_TIMEOUT_MS must be an integer' })
  REQUEST_TIMEOUT_MS = 30_000;

  @Type(() => Number)
  @Min(1000)
  @Max(3_600_000)
  @IsInt({ message: 'KEEP_ALIVE_TIMEOUT_MS must be an integer' })
  KEEP_ALIVE_TIMEOUT_MS = 72_000;

  @Type(() => Number)
  @Min(1)
  @IsInt({ message: 'MAX_IN_FLIGHT_REQUESTS must be an integer' })
  MAX_IN_FLIGHT_REQUESTS = 10_000;

  @Type(() => Number)
  @Min(0)
  @Max(60_000)
  @IsInt({ message: 'OVERLOAD_LATENCY_MS must be an integer' })
  OVERLOAD_LATENCY_MS = 1000;

  @Type(() => Number)
  @Min(1)
  @Max(4096)
  @IsInt({ message: 'HTTP_ACCEPT_QUEUES must be an integer' })
  HTTP_ACCEPT_QUEUES = 512;

  @Type(() => Number)
  @Min(0)
  @Max(60_000)
  @IsInt({ message: 'CHECK_MAX_WAIT_MS must be an integer' })
  CHECK_MAX_WAIT_MS = 30_000;

  @IsString()
  @Matches(/^(auto|\d{1,2})$/, { message: 'PROCESSOR_THREADS must be auto or an integer from 0 to 99' })
  PROCESSOR_THREADS = 'auto';

  @Type(() => Number)
  @Min(0)
  @Max(19)
  @IsInt({ message: 'PROCESSOR_THREAD_NICE must be an integer' })
  PROCESSOR_THREAD_NICE = 10;
}

/** The least a processor group's fetch waits under a light load, unless KAFKA_COMMIT_INTERVAL_MS is less. */
const DEFAULT_COMMIT_INTERVAL_MIN_MS = 50;

/**
 * Reads and validates the configuration from `env` (process.env with `.env` loaded by the
 * entry point). Throws {@link ConfigError} naming every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfigShape {
  const known = Object.fromEntries(
    [...new Set([...Object.keys(new Environment()), ...OPTIONAL_KEYS])]
      .filter((key) => env[key] !== undefined && env[key] !== '')
      .map((key) => [key, env[key]]),
  );
  const parsed = plainToInstance(Environment, known, { exposeDefaultValues: true });
  const errors = validateSync(parsed, { whitelist: true, forbidUnknownValues: true, stopAtFirstError: true });
  const problems = errors.flatMap((error) =>
    Object.values(error.constraints ?? {}).map((text) => {
      // Secrets are never echoed, not even wrong ones.
      const got = SECRETS.has(error.property) ? '' : ` (got "${env[error.property]}")`;
      return text.startsWith(error.property) ? `${text}${got}` : `${error.property}: ${text}`;
    }),
  );
  let thresholdMinor = 0n;
  try {
    thresholdMinor = parseAmount(parsed.THRESHOLD_AMOUNT, 'THRESHOLD_AMOUNT');
  } catch (error) {
    if (!(error instanceof InvalidAmountError)) throw error;
    problems.push(`${error.message} (got "${parsed.THRESHOLD_AMOUNT}")`);
  }
  if (parsed.KAFKA_COMMIT_INTERVAL_MIN_MS !== undefined && parsed.KAFKA_COMMIT_INTERVAL_MIN_MS > parsed.KAFKA_COMMIT_INTERVAL_MS) {
    problems.push(`KAFKA_COMMIT_INTERVAL_MIN_MS must not be more than KAFKA_COMMIT_INTERVAL_MS (got ${parsed.KAFKA_COMMIT_INTERVAL_MIN_MS} and ${parsed.KAFKA_COMMIT_INTERVAL_MS})`);
  }
  if (parsed.KAFKA_SASL_MECHANISM && (!parsed.KAFKA_SASL_USERNAME || !parsed.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);

  const replicationFactor = parsed.KAFKA_REPLICATION_FACTOR === 'auto' ? 'auto' : Number(parsed.KAFKA_REPLICATION_FACTOR);
  return {
    kafka: {
      brokers: parsed.KAFKA_BROKERS.split(','),
      clientId: parsed.KAFKA_CLIENT_ID,
      topicPrefix: parsed.KAFKA_TOPIC_PREFIX,
      partitions: parsed.KAFKA_PARTITIONS,
      replicationFactor,
      minInsyncReplicas: parsed.KAFKA_MIN_INSYNC_REPLICAS,
      changelogSegmentBytes: parsed.KAFKA_CHANGELOG_SEGMENT_BYTES,
      sessionTimeoutMs: parsed.KAFKA_SESSION_TIMEOUT_MS,
      commitIntervalMs: parsed.KAFKA_COMMIT_INTERVAL_MS,
      commitIntervalMinMs: parsed.KAFKA_COMMIT_INTERVAL_MIN_MS ?? Math.min(DEFAULT_COMMIT_INTERVAL_MIN_MS, parsed.KAFKA_COMMIT_INTERVAL_MS),
      batchBytes: parsed.KAFKA_BATCH_BYTES,
      ssl:
        parsed.KAFKA_SSL === 'true'
          ? {
              caFile: parsed.KAFKA_SSL_CA_FILE,
              certFile: parsed.KAFKA_SSL_CERT_FILE,
              keyFile: parsed.KAFKA_SSL_KEY_FILE,
              rejectUnauthorized: parsed.KAFKA_SSL_REJECT_UNAUTHORIZED === 'true',
            }
          : undefined,
      sasl: parsed.KAFKA_SASL_MECHANISM
        ? {
            mechanism: parsed.KAFKA_SASL_MECHANISM,
            username: parsed.KAFKA_SASL_USERNAME!,
            password: parsed.KAFKA_SASL_PASSWORD!,
          }
        : undefined,
    },
    http: {
      host: parsed.HOST,
      port: parsed.PORT,
      requestTimeoutMs: parsed.REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: parsed.KEEP_ALIVE_TIMEOUT_MS,
      maxInFlightRequests: parsed.MAX_IN_FLIGHT_REQUESTS,
      overloadLatencyMs: parsed.OVERLOAD_LATENCY_MS,
      acceptQueues: parsed.HTTP_ACCEPT_QUEUES,
      produceLingerMs: parsed.PRODUCE_LINGER_MS,
      checkMaxWaitMs: parsed.CHECK_MAX_WAIT_MS,
    },
    dataDir: parsed.DATA_DIR,
    viewCacheValues: parsed.VIEW_CACHE_VALUES,
    processorThreads: parsed.PROCESSOR_THREADS === 'auto' ? 'auto' : Number(parsed.PROCESSOR_THREADS),
    processorThreadNice: parsed.PROCESSOR_THREAD_NICE,
    threshold: { amountMinor: thresholdMinor, windowMs: parsed.THRESHOLD_WINDOW_MS },
    admin: { token: parsed.ADMIN_TOKEN },
    log: { level: parsed.LOG_LEVEL, format: parsed.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') },
  };
}

const SECRETS = new Set(['ADMIN_TOKEN', 'KAFKA_SASL_PASSWORD']);

// Optional variables have no default, so `new Environment()` does not list them.
const OPTIONAL_KEYS = [
  'KAFKA_MIN_INSYNC_REPLICAS',
  'KAFKA_COMMIT_INTERVAL_MIN_MS',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_CERT_FILE',
  'KAFKA_SSL_KEY_FILE',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'ADMIN_TOKEN',
  'LOG_FORMAT',
];

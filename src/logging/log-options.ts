import { randomUUID } from 'node:crypto';
import { type LevelWithSilent, type Logger, type LoggerOptions, symbols } from 'pino';
import type { AppConfigShape } from '../config/app-config.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Routes that load balancers, Prometheus and the monitor page poll: their successes are debug. */
const POLLED = /^\/(health\/(live|ready)|metrics|monitor(\/api\/[A-Za-z0-9/_-]*)?)\/?$/;

/**
 * Nest's own start-up report at info (its factory starting, one line per module and route, the
 * application started, once per thread): debug, not news. The service says when it listens and
 * when it has started; Nest's errors keep their level.
 */
const NEST_START_UP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/** Field paths that may hold a credential wherever they turn up in a log record. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.password',
  '*.token',
  '*.adminToken',
  '*.sasl',
  'config.admin',
  'config.kafka.sasl',
];

/** The request's path without its query string (which may carry a token). */
export function requestPath(request: { originalUrl?: string; url?: string }): string {
  return (request.originalUrl ?? request.url ?? '').split('?')[0];
}

/** The client's X-Request-Id when it is sane, a new UUID otherwise. */
export function requestId(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The level of a request's log line: a failure of ours is an error; a refused credential, or a
 * route saying "unavailable, retry" (503, 504), a warning; other client mistakes and successes
 * info. Routes that are polled (probes, scrapes, the monitor page) log at debug, refusals of
 * credentials and real failures excepted: a probe every few seconds is not news, and a
 * not-ready answer is told by the lines saying why.
 */
export function requestLogLevel(method: string, path: string, status: number, failed: boolean): LevelWithSilent {
  if (failed) return 'error';
  if (status === 401 || status === 403) return 'warn';
  const polled = method === 'GET' && POLLED.test(path);
  if (status === 503 || status === 504) return polled ? 'debug' : 'warn';
  if (status >= 500) return 'error';
  return polled ? 'debug' : 'info';
}

/**
 * Replaces every occurrence of the given secrets in a serialized log line (as written, and as
 * JSON-escaped), whatever field or message carried them there.
 */
export function secretScrubber(secrets: ReadonlyArray<string | undefined>): (line: string) => string {
  const forms = [
    ...new Set(secrets.filter((secret): secret is string => !!secret && secret.length >= 4).flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)])),
  ].sort((a, b) => b.length - a.length);
  if (forms.length === 0) return (line) => line;
  return (line) => {
    let scrubbed = line;
    for (const form of forms) if (scrubbed.includes(form)) scrubbed = scrubbed.split(form).join('[REDACTED]');
    return scrubbed;
  };
}

let lastMs = Number.NaN;
let lastTime = '';

/**
 * pino's ISO time field (`stdTimeFunctions.isoTime`), written once per millisecond: under load
 * ~10 request lines share each one, and formatting a Date was ~2 % of a GET /check.
 */
function isoTimeOncePerMs(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** pino's options: string levels, ISO times, redaction, and the secrets of the configuration scrubbed. */
export function loggerOptions(config: AppConfigShape): LoggerOptions {
  const scrub = secretScrubber([config.admin.token, config.kafka.sasl?.password]);
  return {
    level: config.log.level,
    timestamp: isoTimeOncePerMs,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    hooks: {
      logMethod(args, method, level) {
        const first = args[0] as unknown;
        const context = typeof first === 'object' && first !== null ? (first as { context?: unknown }).context : undefined;
        if (level === 30 && typeof context === 'string' && NEST_START_UP_CONTEXTS.has(context)) {
          if (this.isLevelEnabled('debug')) this.debug(...(args as [object, string]));
          return;
        }
        method.apply(this, args);
      },
      streamWrite: scrub,
    },
    transport:
      config.log.format === 'pretty'
        ? {
            target: 'pino-pretty',
            options: {
              singleLine: true,
              translateTime: 'SYS:HH:MM:ss.l',
              ignore: 'pid,hostname,context,req,res,responseTime',
              messageFormat: '{if context}[{context}] {end}{msg}{if req.id} (request {req.id}){end}',
            },
          }
        : undefined,
  };
}

/** A request as its log line shows it: id, method and path (never the query, which may carry a token). */
export interface RequestSummary {
  id: string;
  method: string;
  url: string;
}

/** What pino keeps on a logger under its symbols, as far as a request line needs it. */
interface PinoInternals {
  [symbols.streamSym]: { write(line: string): unknown; [symbols.needsMetadataGsym]?: boolean };
  [symbols.timeSym]: () => string;
  [symbols.chindingsSym]: string;
  [symbols.hooksSym]: { streamWrite?: (line: string) => string };
}

/**
 * Logs the line of an answered request at the level `requestLogLevel` gives: its id, method and
 * path (never the query, which may carry a token), status and time.
 *
 * The line is the one `logger[level]({ req, res, responseTime }, message)` writes, byte for byte
 * (log-options.spec.ts compares them), written from its known fields instead of through pino's
 * generic path: its hooks, a mixin check, an object built to be walked by its serializer, and
 * that walk. `logger` must be a child with identity serializers for `req` and `res` and no
 * redaction (the fields hold nothing to redact), as request-ids.ts makes it; pino's streamWrite
 * hook (the secrets scrubber) still sees the line. A stream that wants pino's metadata with
 * each line (a multistream) gets the line from pino.
 */
export function logRequestLine(logger: Logger, request: RequestSummary, statusCode: number, responseTimeMs: number): void {
  const path = requestPath(request);
  const level = requestLogLevel(request.method, path, statusCode, false);
  if (!logger.isLevelEnabled(level)) return;
  const responseTime = Math.round(responseTimeMs);
  const message = `${request.method} ${path} ${statusCode} in ${responseTime} ms`;
  const pino = logger as unknown as PinoInternals;
  const stream = pino[symbols.streamSym];
  if (stream[symbols.needsMetadataGsym] === true) {
    logger[level as 'info']({ req: { id: request.id, method: request.method, path }, res: { statusCode }, responseTime }, message);
    return;
  }
  const line =
    `{"level":"${level}"${pino[symbols.timeSym]()}${pino[symbols.chindingsSym]},"req":{"id":${JSON.stringify(request.id)},"method":${JSON.stringify(request.method)},` +
    `"path":${JSON.stringify(path)}},"res":{"statusCode":${statusCode}},"responseTime":${responseTime},"msg":${JSON.stringify(message)}}\n`;
  const scrub = pino[symbols.hooksSym].streamWrite;
  stream.write(scrub ? scrub(line) : line);
}

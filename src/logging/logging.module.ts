import { isMainThread } from 'node:worker_threads';
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { type DestinationStream, destination } from 'pino';
import type { AppConfigShape } from '../config/app-config.js';
import { loggerOptions } from './log-options.js';

/**
 * Structured logs through pino: JSON lines in production, human-readable when LOG_FORMAT is
 * pretty (the default on a terminal). Every HTTP request gets a request id (the client's
 * X-Request-Id when it is sane, a new UUID otherwise), sent back as X-Request-Id and carried by
 * its log line; credentials never reach a log.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfigShape): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          // The request lines are written by tagAndLogRequests from a fastify hook: one line per
          // request, instead of pino-http's middleware with a child logger per request.
          forRoutes: [],
          pinoHttp:
            config.log.format === 'json' && isMainThread
              ? [loggerOptions(config), bufferedStdout()]
              : loggerOptions(config),
        }),
      ],
    };
  }
}

/**
 * stdout for the JSON lines, written asynchronously: a slow reader of stdout (a log shipper, a
 * full pipe) must never stall the request path, as pino's default synchronous writes do (they
 * sleep and retry on a full pipe). Beyond 16 MiB unwritten, lines are dropped; whatever is
 * buffered is flushed at exit.
 *
 * Lines are queued as bytes. SonicBoom's text mode measures the text queued so far on every line
 * while a write is under way, which makes V8 copy it whole each time: under load ~9 KB allocated
 * per request line, a quarter of all a request allocated.
 *
 * The lines of one event-loop turn are handed over together, as one Buffer: per line, an array
 * push instead of a Buffer and SonicBoom's bookkeeping.
 *
 * Each write takes up to 1 MiB of what is queued. SonicBoom writes one chunk at a time, and the
 * next only when the event loop comes round again: with its default 16 KiB, a busy HTTP thread
 * (1,000 clients) wrote ~40 lines a turn, less than arrived, and its log fell 12 s behind in a
 * 15 s load (13,603 of 60,904 request lines written when the load ended; the rest held in memory).
 */
function bufferedStdout(): DestinationStream {
  const sonic = destination({ dest: 1, sync: false, minLength: 0, maxWrite: 1024 * 1024, maxLength: 16 * 1024 * 1024, contentMode: 'buffer' });
  // In buffer mode its write takes bytes; its types know only text.
  const writeBytes = sonic.write.bind(sonic) as unknown as (bytes: Buffer) => boolean;
  const pending: string[] = [];
  const handOver = () => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending.length = 0;
    writeBytes(Buffer.from(text));
  };
  sonic.write = (line: string) => {
    if (pending.push(line) === 1) setImmediate(handOver);
    return true;
  };
  // pino flushes (and ends) the stream at exit: the lines of this turn go first.
  const { flush, flushSync, end } = sonic;
  sonic.flush = (callback) => (handOver(), flush.call(sonic, callback));
  sonic.flushSync = () => (handOver(), flushSync.call(sonic));
  sonic.end = () => (handOver(), end.call(sonic));
  return sonic;
}

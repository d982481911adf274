import { isMainThread } from 'node:worker_threads';
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfigShape } from '../config/app-config.js';
import { bufferedStdout } from './buffered-stdout.js';
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

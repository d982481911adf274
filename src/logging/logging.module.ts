import { type DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfigShape } from '../config/config.js';
import { httpLoggerOptions } from './log-options.js';
import { RequestIds } from './request-ids.js';

/**
 * Structured logs through pino: JSON lines in production, human-readable when LOG_FORMAT is
 * pretty (the default on a terminal). Every HTTP request gets a request id (the client's
 * X-Request-Id when it is sane, a new UUID otherwise), sent back as X-Request-Id and carried by
 * its log line and by every line logged while handling it; credentials never reach a log.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfigShape): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          // nestjs-pino's default route pattern ("{/*splat}") matches no request on Nest 12's
          // fastify adapter: without this, no request was logged and no X-Request-Id was sent.
          forRoutes: [{ path: '{*splat}', method: RequestMethod.ALL }],
          pinoHttp: httpLoggerOptions(config),
        }),
      ],
      providers: [RequestIds],
    };
  }
}

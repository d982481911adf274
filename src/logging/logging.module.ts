import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfigShape } from '../config/config.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Structured logs through pino: JSON lines in production, human-readable when LOG_FORMAT is
 * pretty (the default on a terminal). Every HTTP request line carries a request id (the
 * client's X-Request-Id when it is sane, a new UUID otherwise); credentials never reach a log.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfigShape): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.log.level,
            transport:
              config.log.format === 'pretty'
                ? { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }
                : undefined,
            genReqId: (request: IncomingMessage, response: ServerResponse) => {
              const given = request.headers['x-request-id'];
              const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
              response.setHeader('X-Request-Id', id);
              return id;
            },
            customLogLevel: (_request, response, error) =>
              error || response.statusCode >= 500 ? 'error' : response.statusCode >= 400 ? 'warn' : 'info',
            serializers: {
              req: (request: { id: string; method: string; url: string }) => ({
                id: request.id,
                method: request.method,
                // Query strings may carry tokens; the path alone locates the request.
                path: request.url?.split('?')[0],
              }),
              res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
            },
            redact: { paths: ['req.headers.authorization', '*.authorization', '*.password', '*.token'], remove: true },
          },
        }),
      ],
    };
  }
}

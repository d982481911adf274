import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotStartedError } from '../streams/index.js';

interface FastifyError {
  statusCode?: number;
  message: string;
}

/** Fastify's words for the errors it raises before a route runs, in ours. */
function clearer(status: number, message: string): string {
  if (status === HttpStatus.PAYLOAD_TOO_LARGE) return 'the request body is larger than 16384 bytes';
  if (status === HttpStatus.UNSUPPORTED_MEDIA_TYPE) return 'Content-Type must be application/json';
  return message;
}

/**
 * Every error, whoever raised it, leaves as `{"error": "<what is wrong>"}` with a fitting
 * status. Client mistakes keep their 4xx and their message; anything else is a 500 whose
 * details stay in the log, never in the response.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    replyWithError(exception, host.switchToHttp().getRequest<FastifyRequest>(), host.switchToHttp().getResponse<FastifyReply>());
  }
}

const logger = new Logger('HTTP');

/**
 * Known by name, not class: a processor thread's groups are asked through main.js's bundle, which
 * has a copy of the class of its own (as startup-failure.ts explains).
 */
const NOT_STARTED = new NotStartedError().name;

/** Answers `exception` as HttpErrorFilter does: also used by the direct routes (direct-route.ts), which Nest's filters never see. */
export function replyWithError(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const [status, message, headers] = describe(exception);
  if (status >= 500 && status !== HttpStatus.SERVICE_UNAVAILABLE && status !== HttpStatus.GATEWAY_TIMEOUT) {
    logger.error(`request ${request.id}: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`);
  }
  reply.status(status).headers({ ...headers, 'content-type': 'application/json; charset=utf-8' }).send({ error: message });
}

function describe(exception: unknown): [number, string, Record<string, string>] {
  if (exception instanceof HttpException) {
    const body = exception.getResponse();
    const message =
      typeof body === 'string'
        ? body
        : typeof body === 'object' && body !== null && 'message' in body
          ? [body.message].flat().join('; ')
          : exception.message;
    const headers = (exception as HttpException & { headers?: Record<string, string> }).headers ?? {};
    return [exception.getStatus(), clearer(exception.getStatus(), message), headers];
  }
  // The process listens while it connects to Kafka and opens its views: not ready yet, not broken.
  if (exception instanceof Error && exception.name === NOT_STARTED) return [HttpStatus.SERVICE_UNAVAILABLE, 'the service is starting; retry', { 'Retry-After': '1' }];
  const fastifyError = exception as FastifyError;
  if (fastifyError?.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return [fastifyError.statusCode, clearer(fastifyError.statusCode, fastifyError.message), {}];
  }
  return [HttpStatus.INTERNAL_SERVER_ERROR, 'internal error', {}];
}

/** An HttpException that carries response headers (Retry-After, WWW-Authenticate). */
export class HttpErrorWithHeaders extends HttpException {
  constructor(
    status: number,
    message: string,
    readonly headers: Record<string, string>,
  ) {
    super(message, status);
  }
}

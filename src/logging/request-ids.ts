import type { FastifyInstance } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { logRequestLine, requestId } from './log-options.js';

/**
 * Request ids and request lines on fastify: each request's id is the client's X-Request-Id when
 * it is sane, a new UUID otherwise; it goes back to the client as X-Request-Id, on every
 * response, errors included, and its line (method, path, status, time) is logged when it is
 * answered, at the level `requestLogLevel` gives.
 *
 * Call it before any other hook that may answer a request (the overload limit): the header is
 * set when the request arrives, and fastify keeps it through whatever answer follows. (An
 * onSend hook would set it later, but any onSend hook puts every answer through fastify's
 * onSend runner: ~5 µs of a GET /check.)
 */
export function tagAndLogRequests(fastify: FastifyInstance): void {
  fastify.setGenReqId((request) => requestId(request.headers['x-request-id']));
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
  });
  // Request lines carry their fields ready-made (logRequestLine): past pino-http's serializers,
  // and without redaction (their fields are id, method, path without query, status and time).
  const identity = (value: unknown) => value;
  let requestLogger: Logger | undefined;
  fastify.addHook('onResponse', (request, reply, done) => {
    const logger = (requestLogger ??= PinoLogger.root?.child({}, { serializers: { req: identity, res: identity }, redact: { paths: [] } }));
    if (logger) logRequestLine(logger, request, reply.statusCode, reply.elapsedTime);
    done();
  });
}

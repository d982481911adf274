import { STATUS_CODES, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import secureJson from 'secure-json-parse';
import type { AppConfigShape } from '../config/app-config.js';
import { AdaptiveLimit } from './adaptive-limit.js';

/** How long a stopping service still takes new connections, answering them 503. */
const LAME_DUCK_MS = 250;

/** Largest accepted request body (SPEC: over 16 KiB is 413). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Fastify's options for the service: bounded bodies, request times and path segments, and
 * every error it raises before a route runs (a bad URL, headers too large, a request that takes
 * too long to arrive) answered as `{"error": "…"}` like all the others.
 */
export function fastifyOptions(config: AppConfigShape): FastifyServerOptions {
  return {
    bodyLimit: BODY_LIMIT_BYTES,
    // Wallet ids are up to 128 characters; longer ones get a clear 422 from validation.
    routerOptions: { maxParamLength: 512 },
    // The requests in flight are waited for by the drain below; what remains is closed.
    forceCloseConnections: true,
    return503OnClosing: false,
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: config.http.requestTimeoutMs,
          // Node looks for requests over their time every 30 s by default: far too seldom.
          connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(config.http.requestTimeoutMs / 4))),
          // Fastify sets its keepAliveTimeout only on servers it makes itself: Node's 5 s would close
          // idle connections under a load balancer that still sends on them (502s).
          keepAliveTimeout: config.http.keepAliveTimeoutMs,
        },
        handler,
      ),
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const [status, message] =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request line and headers are larger than 16384 bytes']
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, `the request did not arrive within ${config.http.requestTimeoutMs} ms`]
            : [400, 'the request is not valid HTTP'];
      const body = JSON.stringify({ error: message });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    frameworkErrors: (error, _request, reply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      const message = status === 414 ? 'a path segment is longer than 512 characters' : 'the request path is not valid';
      void (reply as unknown as { code(status: number): { send(body: unknown): void } }).code(status).send({ error: message });
    },
  };
}

/**
 * JSON bodies parsed as fastify's own parser does (no `__proto__` or `constructor.prototype`
 * keys, a leading BOM ignored), but saying which of the two things is wrong with a refused body:
 * not JSON, or a key that could reach an object's prototype.
 */
export function parseJsonBodies(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(badRequest('the body is empty; send a JSON object'), undefined);
    try {
      done(null, secureJson.parse(body as string, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      const prototypeKey = (error as Error).message.includes('forbidden prototype property');
      done(badRequest(prototypeKey ? 'the body must not contain __proto__ or constructor.prototype keys' : 'the body is not valid JSON'), undefined);
    }
  });
}

function badRequest(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/** Probes answer even under overload: a load balancer must not take a busy instance for a dead one. */
const NEVER_SHED = /^\/(health\/(live|ready)|metrics)(\?|$)/;

/** Requests that wait on purpose (read-your-writes with a token) say nothing about load. */
const WAITS_ON_PURPOSE = /[?&]token=/;

/**
 * Bounds the requests in flight and drains them on stop. Past the limit, new requests get 503
 * with Retry-After at once instead of queueing: the limit is `maxInFlight`, and with
 * `targetLatencyMs` > 0 it adapts ({@link AdaptiveLimit}): while the answered requests' 90th
 * percentile latency is over the target, no more than the service answers in that time. Health probes and metrics are never refused.
 * `drain()` stops accepting connections, answers new requests on open ones 503 with
 * `Connection: close`, and waits (up to `timeoutMs`) until every request in flight is answered.
 * What is still open afterwards can be closed without dropping a request.
 */
export function limitInFlight(
  fastify: FastifyInstance,
  maxInFlight: number,
  targetLatencyMs: number,
  onShed?: () => void,
): { drain(timeoutMs: number): Promise<void>; alsoClose(servers: ReadonlyArray<{ close(): unknown }>): void } {
  let inFlight = 0;
  let closing = false;
  const listeners: Array<{ close(): unknown }> = [];
  const limit = new AdaptiveLimit({ max: maxInFlight, min: Math.min(maxInFlight, 16), targetMs: targetLatencyMs > 0 ? targetLatencyMs : Infinity });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (closing) {
      void reply.code(503).header('Retry-After', '1').header('Connection', 'close').send({ error: 'the service is stopping; retry' });
      return;
    }
    const exempt = NEVER_SHED.test(request.url);
    if (!exempt && !limit.admits(inFlight)) {
      onShed?.();
      void reply.code(503).header('Retry-After', '1').send({ error: 'the service is at capacity; retry' });
      return;
    }
    inFlight++;
    const sampled = !exempt && !WAITS_ON_PURPOSE.test(request.url);
    reply.raw.once('close', () => {
      inFlight--;
      if (sampled) limit.answer(reply.elapsedTime);
    });
    done();
  });
  return {
    alsoClose(servers) {
      listeners.push(...servers);
    },
    async drain(timeoutMs: number): Promise<void> {
      closing = true;
      // A moment more of taking connections (and answering them 503): a client that connected
      // just before the signal gets an answer, not a reset from a closed listening socket.
      await sleep(LAME_DUCK_MS);
      // Then stop taking connections; those already taken keep going until they are answered.
      fastify.server.close();
      for (const listener of listeners) listener.close();
      const deadline = Date.now() + timeoutMs;
      // A connection taken a moment ago may still be sending its request: give it a chance to
      // arrive (and be answered 503) before the rest is closed.
      for (let settled = 0; settled < 3 && Date.now() < deadline; ) {
        settled = inFlight === 0 ? settled + 1 : 0;
        await sleep(25);
      }
    },
  };
}

import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { requestId } from './log-options.js';

/**
 * Request ids on fastify: each request's id is the client's X-Request-Id when it is sane, a new
 * UUID otherwise; it is the id of the request's log lines (fastify hands it to the logging
 * middleware) and goes back to the client as X-Request-Id, on every response, errors included.
 */
@Injectable()
export class RequestIds implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance() as FastifyInstance | undefined;
    if (typeof fastify?.setGenReqId !== 'function') return;
    fastify.setGenReqId((request) => requestId(request.headers['x-request-id']));
    fastify.addHook('onSend', (request, reply, payload, done) => {
      void reply.header('X-Request-Id', request.id);
      done(null, payload);
    });
  }
}

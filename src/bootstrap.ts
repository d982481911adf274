import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfigShape } from './config/app-config.js';
import { toExactJson } from './http/exact-json.js';
import { serveDirectRoutes } from './http/direct-route.js';
import { HttpErrorFilter } from './http/http-error.filter.js';
import { fastifyOptions, limitInFlight, parseJsonBodies } from './http/http-server.js';
import { acceptOnMoreQueues, startListenerHelper } from './http/more-listeners.js';
import { documentEdgeResponses } from './http/openapi.js';
import { RequestValidationPipe } from './http/validation.js';
import { StartUp } from './health/start-up.js';
import { tagAndLogRequests } from './logging/request-ids.js';
import { MetricsService } from './metrics/metrics.service.js';
import type { ProcessorThreads } from './processor-threads.js';
import type { ServiceOptions } from './service-options.js';
import { StreamsRuntime, startStreams } from './streams/index.js';

/** The longest a graceful stop may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Of which: the longest the requests in flight are waited for. */
const DRAIN_MS = 5_000;

/**
 * Builds and starts one process of the service: the HTTP server (API routes when
 * `options.api`; health, metrics and docs always) and the chosen processor groups, on the
 * worker threads launch.ts started (`threads`), or on this thread when it started none.
 * SIGTERM and SIGINT stop it gracefully: new requests get 503, requests in flight are answered,
 * groups finish their batch and commit, stores close; then exit 0. A signal during start-up
 * stops it the same way once it has started. A processor thread that dies stops it all (exit 1).
 */
export async function runService(options: ServiceOptions, config: AppConfigShape, threads?: ProcessorThreads): Promise<NestFastifyApplication> {
  const stopper = new Stopper();
  threads?.onFailure((reason) => stopper.fail(reason));
  // A process without the API answers probes and scrapes only: one queue is plenty.
  const moreQueues = options.api ? config.http.acceptQueues - 1 : 0;
  const helper = moreQueues > 0 ? startListenerHelper(join(__dirname, 'listener-copies.js')) : undefined;
  const here = threads ? [] : options.processors;
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, { ...options, processors: here }),
    new FastifyAdapter(fastifyOptions(config)),
    // Bodies are JSON only, parsed by parseJsonBodies below (a form body is a 415).
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  for (const source of threads?.sources ?? []) app.get(StreamsRuntime).addGroupSource(source);
  const http = configureHttp(app, config);
  await app.init();
  // HTTP first: probes and metrics answer while the process connects to Kafka, checks its topics
  // and opens its views (routes that need them answer 503 until then), and while the groups
  // restore their stores. A start-up that fails still stops the process, below.
  await app.listen({ port: config.http.port, host: config.http.host, backlog: LISTEN_BACKLOG });
  const logger = app.get(Logger);
  const { port } = app.getHttpServer().address() as AddressInfo;
  logger.log(`listening on ${reachableUrl(config.http.host, port)}${options.api ? ' (Swagger UI at /docs)' : ''}`, 'Http');
  const warn = (message: string) => logger.warn(message, 'Http');
  const queues = helper ? await acceptOnMoreQueues(app.getHttpServer(), moreQueues, helper, LISTEN_BACKLOG, warn) : [];
  if (queues.length < moreQueues) warn(`accepting connections on ${queues.length + 1} queues instead of ${moreQueues + 1}: the listener helper gave up`);
  http.alsoClose(queues);
  await app.get(StreamsRuntime).started();
  if (here.length > 0) await startStreams(app);
  if (threads) {
    await threads.started;
    const plural = threads.count === 1 ? '' : 's';
    logger.log(`processor groups ${threads.processors.join(', ')} running on ${threads.count} worker thread${plural}`, 'ProcessorThreads');
  }
  stopper.ready(app, (timeoutMs) => http.drain(timeoutMs), threads);
  // Ready once the deposit producer is connected (or could not be): the first deposit should
  // not wait for it.
  await app.get(StreamsRuntime).emitter.prepared;
  app.get(StartUp).done = true;
  // What readiness waits for in this process (HealthController): a process without the API has no views.
  const waits = [options.api ? 'every view has caught up' : '', options.processors.length > 0 ? 'every group has joined' : ''].filter(Boolean);
  logger.log(`started in ${process.uptime().toFixed(1)} s (Node ${process.versions.node}); /health/ready answers 200 once ${waits.join(' and ') || 'Kafka answers'}`, 'StartUp');
  return app;
}

/** Where a client on this machine reaches the server: a wildcard address is no place to browse to. */
function reachableUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/**
 * Connections the kernel queues until the service accepts them (capped by net.core.somaxconn).
 * Node's default of 511 overflows when hundreds of clients connect at once while the event loop
 * is busy, and an overflowed connection is reset instead of answered.
 */
const LISTEN_BACKLOG = 4096;

function configureHttp(app: NestFastifyApplication, config: AppConfigShape): ReturnType<typeof limitInFlight> {
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  fastify.setReplySerializer(toExactJson);
  // Only JSON bodies are taken; anything else is a 415.
  fastify.removeContentTypeParser('text/plain');
  parseJsonBodies(fastify);
  const metrics = app.get(MetricsService);
  tagAndLogRequests(fastify);
  const inFlight = limitInFlight(fastify, config.http.maxInFlightRequests, config.http.overloadLatencyMs, () => metrics.requestsShed.inc());
  recordHttpMetrics(fastify, metrics);
  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(new RequestValidationPipe());
  serveDirectRoutes(app, fastify);

  // Built on the first request for it, not at every start (~50 ms of the HTTP thread's start-up).
  const document = () => documentEdgeResponses(SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('depositaja')
      .setDescription(
        'Wallet deposits on Apache Kafka. Deposits are events; balances and flags come from stream processors and are read ' +
          'from local replicas. Every error is `{"error": "<what is wrong>"}`. Operators: [monitor](/monitor).',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' })
      .build(),
  ));
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return inFlight;
}

/**
 * Counts every answer by method, route pattern and status, and times it. Each route's answers
 * are recorded by a hook of its own, which knows the route's pattern (`request.routeOptions`
 * builds an object of 13 fields on every read: ~5 µs of a GET /check); a global hook records the
 * answers no route matched.
 */
function recordHttpMetrics(fastify: FastifyInstance, metrics: MetricsService): void {
  const record = (route: string, request: FastifyRequest, reply: FastifyReply) => {
    metrics.recordHttp(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    if (route === '/deposit' && reply.statusCode >= 400) {
      const reason = reply.statusCode === 409 ? 'conflict' : reply.statusCode === 503 ? 'unavailable' : reply.statusCode < 500 ? 'invalid' : 'error';
      metrics.depositsRejected.inc({ reason });
    }
  };
  fastify.addHook('onRoute', (route) => {
    const recordAnswer: onResponseHookHandler = (request, reply, done) => {
      record(route.url, request, reply);
      done();
    };
    route.onResponse = [...[route.onResponse ?? []].flat(), recordAnswer];
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    if (request.is404) record('unmatched', request, reply);
    done();
  });
}

/**
 * Stops the process on SIGTERM and SIGINT, from the first moment: a signal that arrives while
 * the service starts is kept, and acted on once it has started.
 */
class Stopper {
  private app?: NestFastifyApplication;
  private drain?: (timeoutMs: number) => Promise<void>;
  private threads?: ProcessorThreads;
  private signal?: NodeJS.Signals;
  private failure?: string;
  private stopping = false;

  constructor() {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        this.signal ??= signal;
        if (this.app) void this.stop();
      });
    }
  }

  ready(app: NestFastifyApplication, drain: (timeoutMs: number) => Promise<void>, threads?: ProcessorThreads): void {
    this.app = app;
    this.drain = drain;
    this.threads = threads;
    if (this.signal || this.failure) void this.stop();
  }

  /** A part of the service died: stop the rest, and exit 1. */
  fail(reason: string): void {
    this.failure ??= reason;
    if (this.app) void this.stop();
  }

  private async stop(): Promise<void> {
    if (this.stopping || !this.app) return;
    this.stopping = true;
    const logger = this.app.get(Logger);
    if (this.failure) logger.error(`${this.failure}: stopping the service`, undefined, 'Shutdown');
    else logger.log(`${this.signal}: stopping`, 'Shutdown');
    setTimeout(() => {
      logger.error(`not stopped after ${SHUTDOWN_GRACE_MS} ms; exiting anyway`, undefined, 'Shutdown');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    try {
      await this.drain!(DRAIN_MS);
      await Promise.all([this.threads?.stop(SHUTDOWN_GRACE_MS - DRAIN_MS), this.app.close()]);
      logger.log('stopped', 'Shutdown');
      process.exit(this.failure ? 1 : 0);
    } catch (error) {
      logger.error(`stop failed: ${String(error)}`, undefined, 'Shutdown');
      process.exit(1);
    }
  }
}

export { exitOnStartupFailure } from './startup-failure.js';

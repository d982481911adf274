import { existsSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AppModule, type ServiceOptions } from './app.module.js';
import { type AppConfigShape, ConfigError, loadConfig } from './config/config.js';
import { toExactJson } from './http/exact-json.js';
import { HttpErrorFilter } from './http/http-error.filter.js';
import { RequestValidationPipe } from './http/validation.js';
import { MetricsService } from './metrics/metrics.service.js';
import { StoreInUseError, TopicMismatchError, connectStreams } from './streams/index.js';

/** Largest accepted request body (SPEC: over 16 KiB is 413). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** The longest a graceful stop may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Builds and starts one process of the service: the HTTP server (API routes when
 * `options.api`; health, metrics and docs always) and the chosen processor groups.
 * SIGTERM and SIGINT stop it gracefully: no new requests, in-flight ones finish, groups finish
 * their batch and commit, stores close; then exit 0.
 */
export async function runService(options: ServiceOptions): Promise<NestFastifyApplication> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: config.http.requestTimeoutMs,
    // Wallet ids are up to 128 characters; longer ones get a clear 422 from validation.
    routerOptions: { maxParamLength: 512 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  configureHttp(app, config);
  if (options.processors.length > 0) connectStreams(app);
  await app.init();
  // HTTP first: health and metrics answer while the groups restore their stores.
  await app.listen(config.http.port, config.http.host);
  if (options.processors.length > 0) await app.startAllMicroservices();
  stopOnSignals(app);
  return app;
}

function configureHttp(app: NestFastifyApplication, config: AppConfigShape): void {
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  fastify.setReplySerializer(toExactJson);
  // Only JSON bodies are taken; anything else is a 415.
  fastify.removeContentTypeParser('text/plain');
  limitInFlight(fastify, config.http.maxInFlightRequests);
  recordHttpMetrics(fastify, app.get(MetricsService));
  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(new RequestValidationPipe());

  const document = SwaggerModule.createDocument(
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
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/** Past `max` requests in flight, new ones get 503 at once instead of queueing without end. */
function limitInFlight(fastify: FastifyInstance, max: number): void {
  let inFlight = 0;
  fastify.addHook('onRequest', (request, reply, done) => {
    if (inFlight >= max) {
      void reply.code(503).header('Retry-After', '1').send({ error: 'too many requests in flight; retry' });
      return;
    }
    inFlight++;
    reply.raw.once('close', () => inFlight--);
    done();
  });
}

function recordHttpMetrics(fastify: FastifyInstance, metrics: MetricsService): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    if (route === '/deposit' && reply.statusCode >= 400) {
      const reason = reply.statusCode === 409 ? 'conflict' : reply.statusCode === 503 ? 'unavailable' : reply.statusCode < 500 ? 'invalid' : 'error';
      metrics.depositsRejected.inc({ reason });
    }
    done();
  });
}

function stopOnSignals(app: NestFastifyApplication): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const logger = app.get(Logger);
    logger.log(`${signal}: stopping`, 'Shutdown');
    setTimeout(() => {
      logger.error(`not stopped after ${SHUTDOWN_GRACE_MS} ms; exiting anyway`, undefined, 'Shutdown');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    app.close().then(
      () => {
        logger.log('stopped', 'Shutdown');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error(`stop failed: ${String(error)}`, undefined, 'Shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Ends the process with one clear line for the failures a user can fix, a stack otherwise. */
export function exitOnStartupFailure(error: unknown): never {
  const known =
    error instanceof ConfigError ||
    error instanceof TopicMismatchError ||
    error instanceof StoreInUseError ||
    (error instanceof Error && error.message.startsWith('cannot reach Kafka'));
  if (known) {
    process.stderr.write(`depositaja: ${(error as Error).message}\n`);
  } else if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
    process.stderr.write(`depositaja: cannot listen: ${(error as Error).message} (another process has the port; set PORT)\n`);
  } else {
    process.stderr.write(`depositaja: start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
}

import { existsSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule, type ServiceOptions } from './app.module.js';
import { ConfigError, loadConfig } from './config/config.js';

/** Largest accepted request body (SPEC: over 16 KiB is 413). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Builds and starts one process of the service: the HTTP server (API routes when
 * `options.api`, health and metrics always) and the chosen processor groups.
 */
export async function runService(options: ServiceOptions): Promise<NestFastifyApplication> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: config.http.requestTimeoutMs,
    // Wallet ids are up to 128 characters; longer ones get a clear 4xx from validation.
    routerOptions: { maxParamLength: 512 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  await app.listen(config.http.port, config.http.host);
  return app;
}

/** Ends the process with one clear line for the failures a user can fix, a stack otherwise. */
export function exitOnStartupFailure(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`depositaja: ${error.message}\n`);
  } else {
    process.stderr.write(`depositaja: start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireBundle, saveCodeCaches } from './code-cache.js';
import type { AppConfigShape } from './config/app-config.js';
import { loadConfig } from './config/config.js';
import { ProcessorThreads, processorThreadCount } from './processor-threads.js';
import type { ServiceOptions } from './service-options.js';

/**
 * Starts a process of the service (main.ts, processor.ts) in the order that gets its groups
 * processing soonest: first, from modules that load in ~0.1 s, the configuration and the
 * processor threads; then the rest of the service (bootstrap.ts: Nest, fastify, kafkajs, every
 * module, ~0.5 s). Each thread loads its own copy of all that meanwhile, on another core: before,
 * it began only once this thread had loaded its own, about half a second later on every start.
 * Both load through V8's code cache (code-cache.ts), written once the service has started.
 */
export function launch(options: ServiceOptions): void {
  let launched: { config: AppConfigShape; threads?: ProcessorThreads } | { failure: unknown };
  try {
    if (existsSync('.env')) process.loadEnvFile('.env');
    const config = loadConfig();
    const count = options.processors.length > 0 ? processorThreadCount(config.processorThreads, options.api) : 0;
    launched = { config, threads: count > 0 ? ProcessorThreads.start(count, options.processors, config, options.api ? config.processorThreadNice : 0) : undefined };
  } catch (failure) {
    // A bad configuration, or a thread that could not even be spawned: never run on without it.
    launched = { failure };
  }
  const { exitOnStartupFailure, runService } = requireBundle<typeof import('./bootstrap.js')>(join(__dirname, 'bootstrap.js'));
  if ('failure' in launched) return exitOnStartupFailure(launched.failure);
  runService(options, launched.config, launched.threads).then(saveCodeCaches, exitOnStartupFailure);
}

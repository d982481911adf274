/**
 * npm start — builds the service when its sources changed and runs it; starts the local Kafka
 * meanwhile when KAFKA_BROKERS is unset.
 *   npm start                       API + all processors (dist/main.js)
 *   npm start -- --no-processors    API only
 *   npm run start:processor -- --balance
 * The broker is left running for the next start; `npm run kafka:stop` stops it.
 *
 * It builds the service itself rather than the npm script chaining `npm run build && …`: a shell
 * running two commands stays between npm and this script and does not pass signals on, so a
 * SIGTERM to `npm start` (a supervisor stopping it) left the service running, orphaned.
 */
import '../src/config/node-version.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NODE_FLAGS, withNodeEnvironment } from '../src/config/node-flags.js';
import { buildServiceIfStale } from './build.js';
import { LocalKafkaError, type LocalKafkaOptions, defaultLocalKafkaOptions, startLocalKafka } from './kafka/launcher.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const processorOnly = args[0] === '--processor';
  const entry = processorOnly ? 'dist/processor.js' : 'dist/main.js';
  const entryArgs = processorOnly ? args.slice(1) : args;
  if (existsSync('.env')) process.loadEnvFile('.env');
  const kafka = process.env.KAFKA_BROKERS ? undefined : localKafkaOptions();
  // The build and the broker's start overlap: they are separate processes.
  const built = buildServiceIfStale(process.cwd(), building.signal).catch((error: unknown) => {
    console.error(`npm start: the build failed (${error instanceof Error ? error.message : String(error)})`);
    process.exit(1);
  });
  if (kafka) {
    const { brokers, started } = await startLocalKafka(kafka);
    process.env.KAFKA_BROKERS = brokers;
    if (started) console.log('[kafka] it keeps running after the service stops; `npm run kafka:stop` stops it');
  }
  await built;

  // The service runs in its own process group so that Ctrl-C reaches it exactly once, from here.
  const child = spawn(process.execPath, ['--enable-source-maps', ...NODE_FLAGS, entry, ...entryArgs], {
    stdio: 'inherit',
    detached: true,
    env: withNodeEnvironment(process.env),
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** The local Kafka's options, from the environment. */
function localKafkaOptions(): LocalKafkaOptions {
  const options = defaultLocalKafkaOptions(process.cwd());
  // Empty means unset, as for every variable here; anything else must be a port.
  const port = process.env.KAFKA_PORT || String(options.port);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    console.error(`npm start: KAFKA_PORT must be a port number from 1 to 65535, got "${port}"`);
    process.exit(1);
  }
  options.port = Number(port);
  options.version = process.env.KAFKA_VERSION ?? options.version;
  options.log = (line) => console.log(`[kafka] ${line}`);
  return options;
}

/** Stops a build still running when the start fails. */
const building = new AbortController();

main().catch((error: unknown) => {
  console.error(error instanceof LocalKafkaError ? `kafka: ${error.message}` : error);
  building.abort();
  process.exit(1);
});

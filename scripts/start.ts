/**
 * npm start — runs the built service; starts the local Kafka first when KAFKA_BROKERS is unset.
 *   npm start                       API + all processors (dist/main.js)
 *   npm start -- --no-processors    API only
 *   npm run start:processor -- --balance
 * The broker is left running for the next start; `npm run kafka:stop` stops it.
 */
import '../src/config/node-version.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LocalKafkaError, defaultLocalKafkaOptions, startLocalKafka } from './kafka/launcher.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const processorOnly = args[0] === '--processor';
  const entry = processorOnly ? 'dist/processor.js' : 'dist/main.js';
  const entryArgs = processorOnly ? args.slice(1) : args;
  if (existsSync('.env')) process.loadEnvFile('.env');

  if (!process.env.KAFKA_BROKERS) {
    const options = defaultLocalKafkaOptions(process.cwd());
    options.port = Number(process.env.KAFKA_PORT ?? options.port);
    options.version = process.env.KAFKA_VERSION ?? options.version;
    options.log = (line) => console.log(`[kafka] ${line}`);
    const { brokers, started } = await startLocalKafka(options);
    process.env.KAFKA_BROKERS = brokers;
    if (started) console.log('[kafka] it keeps running after the service stops; `npm run kafka:stop` stops it');
  }

  // The service runs in its own process group so that Ctrl-C reaches it exactly once, from here.
  const child = spawn(process.execPath, ['--enable-source-maps', entry, ...entryArgs], {
    stdio: 'inherit',
    detached: true,
    env: process.env,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main().catch((error: unknown) => {
  console.error(error instanceof LocalKafkaError ? `kafka: ${error.message}` : error);
  process.exit(1);
});

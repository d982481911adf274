/**
 * npm run kafka:start | kafka:stop | kafka:status — a local Apache Kafka (KRaft) without Docker.
 * See scripts/kafka/launcher.ts for what it does and where it keeps its files.
 */
import '../src/config/node-version.js';
import { parseArgs } from 'node:util';
import {
  LocalKafkaError,
  defaultLocalKafkaOptions,
  ensureJars,
  localKafkaStatus,
  prepareClassArchive,
  startLocalKafka,
  stopLocalKafka,
} from './kafka/launcher.js';

const HELP = `Usage: npm run kafka:<start|stop|status|jars> -- [options]

A local Apache Kafka in KRaft mode, jars from Maven Central (needs java 17+ and mvn).
Files live under .kafka/ in the project folder. \`jars\` only resolves the jars and makes the
broker's class archive, which later starts load faster from (CI does it ahead of the tests).

Options:
  --brokers N     nodes in the cluster (default 1; each is broker and controller)
  --port P        client port of the first node (default 9092, or KAFKA_PORT); node i uses
                  P+2i for clients and P+2i+1 for its controller
  --instance X    a separate cluster under .kafka/X (default "local")
  --sasl U:P      clients must authenticate with SASL/SCRAM (SCRAM-SHA-256 or -512) as user U
                  with password P (created when the instance is first formatted; an existing
                  instance starts only with the settings it was created with)
  --version V     Apache Kafka version (default 3.9.1, or KAFKA_VERSION)
  --timeout S     seconds to wait for the cluster to answer (default 90)
  -h, --help      this text`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      brokers: { type: 'string' },
      port: { type: 'string' },
      instance: { type: 'string' },
      sasl: { type: 'string' },
      version: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !['start', 'stop', 'status', 'jars'].includes(command ?? '')) {
    console.log(HELP);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const options = defaultLocalKafkaOptions(process.cwd());
  options.instance = values.instance ?? options.instance;
  options.nodes = positiveInteger('--brokers', values.brokers ?? String(options.nodes));
  options.port = positiveInteger('--port', values.port ?? (process.env.KAFKA_PORT || String(options.port)));
  options.version = values.version ?? process.env.KAFKA_VERSION ?? options.version;
  options.timeoutMs = 1000 * positiveInteger('--timeout', values.timeout ?? String(options.timeoutMs / 1000));
  options.log = (line) => console.log(line);
  if (values.sasl !== undefined) options.sasl = saslOption(values.sasl);

  if (command === 'jars') {
    console.log(`Kafka ${options.version} jars in ${ensureJars(options)}`);
    const archive = await prepareClassArchive(options);
    console.log(archive ? `class archive: ${archive}` : 'no class archive could be made: brokers start without one');
  } else if (command === 'start') {
    const { brokers } = await startLocalKafka(options);
    console.log(`KAFKA_BROKERS=${brokers}`);
    if (options.sasl) {
      console.log(`KAFKA_SASL_MECHANISM=scram-sha-256\nKAFKA_SASL_USERNAME=${options.sasl.username}\nKAFKA_SASL_PASSWORD=${options.sasl.password}`);
    }
  } else if (command === 'stop') {
    const stopped = await stopLocalKafka(options);
    console.log(stopped > 0 ? `stopped ${stopped} Kafka node(s) of instance "${options.instance}"` : 'no local Kafka was running');
  } else {
    const status = localKafkaStatus(options);
    if (status.running.length === 0) {
      console.log(`not running (instance "${options.instance}", ${status.nodes} node(s) configured)`);
      process.exitCode = 1;
    } else {
      const sasl = status.saslUsername ? ` (SASL/SCRAM, user "${status.saslUsername}")` : '';
      console.log(`running: node(s) ${status.running.join(',')} of ${status.nodes}; KAFKA_BROKERS=${status.brokers}${sasl}`);
    }
  }
}

function saslOption(text: string): { username: string; password: string } {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) throw new LocalKafkaError(`--sasl takes user:password, got "${text}"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new LocalKafkaError(`${name} must be a positive integer, got "${text}"`);
  return value;
}

main().catch((error: unknown) => {
  console.error(error instanceof LocalKafkaError ? `kafka: ${error.message}` : error);
  process.exit(1);
});

/**
 * npm run flag-wallet -- --wallet <id> [--remove] [--reason <text>] [--brokers host:port]
 *
 * Flags (or with --remove, unflags) a wallet by hand: a manual flag event on the flag stream,
 * exactly as the admin API emits it. Configuration as for the service (environment, .env).
 */
import '../config/node-version.js';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { ConfigError } from '../config/app-config.js';
import { loadConfig } from '../config/config.js';
import { manualFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import { WALLET_ID_RULE, isWalletId } from '../contracts/wallet-id.js';
import { StreamsRuntime } from '../streams/index.js';

const HELP = `Usage: npm run flag-wallet -- --wallet <id> [--remove] [--reason <text>] [--brokers host:port]

Flags a wallet by hand (or unflags it with --remove): a manual flag event on topic
flag_wallet, as PUT/DELETE /admin/wallets/<id>/flag emit it. Kafka is KAFKA_BROKERS from the
environment or .env, unless --brokers names it.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      wallet: { type: 'string' },
      remove: { type: 'boolean', default: false },
      reason: { type: 'string' },
      brokers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!isWalletId(values.wallet)) throw new ConfigError(values.wallet === undefined ? '--wallet is required (see --help)' : WALLET_ID_RULE);
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig({ ...process.env, ...(values.brokers ? { KAFKA_BROKERS: values.brokers } : {}) });

  Logger.overrideLogger(['error']);
  const streams = new StreamsRuntime({ connection: config.kafka, dataDir: config.dataDir, emitter: { lingerMs: 0, timeoutMs: 10_000 } });
  streams.registerTopics(topics.flagWallet);
  try {
    await streams.start();
    const flagged = !values.remove;
    const delivery = await streams.emitter.emit(topics.flagWallet, values.wallet, manualFlagEvent(values.wallet, flagged, Date.now(), values.reason));
    console.log(`${flagged ? 'flagged' : 'unflagged'} ${values.wallet} (flag_wallet partition ${delivery.partition}, offset ${delivery.offset})`);
  } finally {
    await streams.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`flag-wallet: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

/**
 * The whole service in one process: the HTTP API and every processor group.
 *   node dist/main.js                   API + balance, threshold and flagger
 *   node dist/main.js --no-processors   API only (scale reads and writes apart from processing)
 */
import './config/node-version.js';
import './config/heap.js';
import { parseArgs } from 'node:util';
import { launch } from './launch.js';
import { PROCESSOR_NAMES } from './service-options.js';

const HELP = `Usage: node dist/main.js [--no-processors]

Runs the HTTP API and, unless --no-processors is given, the balance, threshold and flagger
processor groups. Configuration comes from the environment (and .env); see README.md.`;

const { values } = parseArgs({
  options: { 'no-processors': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log(HELP);
} else {
  launch({ api: true, processors: values['no-processors'] ? [] : PROCESSOR_NAMES });
}

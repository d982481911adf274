import { ConfigError } from './config/app-config.js';
import { ProcessorThreadError } from './processor-threads.js';
import { StoreInUseError, TopicMismatchError } from './streams/index.js';

/**
 * The failures a user can fix, by name: not by class, since main.js and bootstrap.js are bundles
 * of their own, each with its own copy of these classes, and a configuration error thrown by one
 * reaches the other's handler (instanceof said no, and the user got a stack trace).
 */
const FIXABLE = new Set<string>([ConfigError, TopicMismatchError, StoreInUseError, ProcessorThreadError].map((type) => new type().name));

/** One clear line for the start-up failures a user can fix, a stack otherwise. */
export function describeStartupFailure(error: unknown): string {
  const known = error instanceof Error && (FIXABLE.has(error.name) || error.message.startsWith('cannot reach Kafka'));
  if (known) return error.message;
  if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
    return `cannot listen: ${(error as Error).message} (another process has the port; set PORT)`;
  }
  return `start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}

/**
 * Ends the process with {@link describeStartupFailure}, said last: the log lines a start buffers
 * (Nest's, then its own report of the same error) are written as the process exits, and a reason
 * written before them ended up above them.
 */
export function exitOnStartupFailure(error: unknown): never {
  const reason = `depositaja: ${describeStartupFailure(error)}\n`;
  process.once('exit', () => process.stderr.write(reason));
  process.exit(1);
}

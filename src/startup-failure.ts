import { ConfigError } from './config/app-config.js';
import { ProcessorThreadError } from './processor-threads.js';
import { StoreInUseError, TopicMismatchError } from './streams/index.js';

/** One clear line for the start-up failures a user can fix, a stack otherwise. */
export function describeStartupFailure(error: unknown): string {
  const known =
    error instanceof ConfigError ||
    error instanceof TopicMismatchError ||
    error instanceof StoreInUseError ||
    error instanceof ProcessorThreadError ||
    (error instanceof Error && error.message.startsWith('cannot reach Kafka'));
  if (known) return (error as Error).message;
  if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
    return `cannot listen: ${(error as Error).message} (another process has the port; set PORT)`;
  }
  return `start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}

/** Ends the process with {@link describeStartupFailure}. */
export function exitOnStartupFailure(error: unknown): never {
  process.stderr.write(`depositaja: ${describeStartupFailure(error)}\n`);
  process.exit(1);
}

import { type ChildProcess, spawn } from 'node:child_process';
import { NODE_FLAGS, withNodeEnvironment } from '../../src/config/node-flags.js';

/**
 * A child Node.js process (the service, a processor, the core's sum-app), started with the
 * service's node options and environment (NODE_FLAGS, NODE_ENVIRONMENT), whose output is kept for
 * assertions and shown when something fails: used by the tests, the chaos run and the benchmarks.
 */
export class ManagedProcess {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private listeners: Array<() => void> = [];

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: Record<string, string>,
    {
      keepLines = Infinity,
      node = process.execPath,
    }: {
      /** Keep only about this many of the last output lines (a process logging every request). */
      keepLines?: number;
      /** The node binary to run it with (the bench's `--node`); this process's own by default. */
      node?: string;
    } = {},
  ) {
    this.child = spawn(node, ['--enable-source-maps', ...NODE_FLAGS, script, ...args], {
      env: withNodeEnvironment({ ...process.env, LOG_FORMAT: 'json', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A chunk ends wherever the pipe was cut, often inside a line: the tail waits for the rest.
    const collector = () => {
      let partial = '';
      return (chunk: Buffer | null) => {
        const lines = (partial + (chunk?.toString() ?? '\n')).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.trim()) this.output.push(line);
        if (this.output.length > 2 * keepLines) this.output.splice(0, this.output.length - keepLines);
        for (const listener of this.listeners) listener();
      };
    };
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      const collect = collector();
      stream.on('data', collect);
      stream.on('end', () => collect(null));
    }
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** How it ended, in words ("running" while it runs). */
  get exitStatus(): string {
    if (this.child.signalCode !== null) return `killed by ${this.child.signalCode}`;
    return this.child.exitCode === null ? 'running' : `exit code ${this.child.exitCode}`;
  }

  /** Resolves with the first output line matching `pattern` (seen already or to come). */
  waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.output.find((candidate) => pattern.test(candidate));
        if (line) {
          done();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; last output:\n${this.output.slice(-30).join('\n')}`));
      }, timeoutMs);
      const exit = () => {
        if (!this.running) {
          done();
          reject(new Error(`${this.name} exited before printing ${pattern}; last output:\n${this.output.slice(-30).join('\n')}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((listener) => listener !== check);
      };
      this.listeners.push(check);
      void this.exited.then(() => setImmediate(() => {
        check();
        exit();
      }));
      check();
    });
  }

  /**
   * Stops reading the process's stdout (true) or reads it again (false), as a log shipper that
   * stalls would: unread, the pipe fills and the process's writes to it find it full.
   */
  pauseStdout(paused: boolean): void {
    if (paused) this.child.stdout!.pause();
    else this.child.stdout!.resume();
  }

  /** Lines printed so far that match `pattern`. */
  lines(pattern: RegExp): string[] {
    return this.output.filter((line) => pattern.test(line));
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

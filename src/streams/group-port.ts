import { LatencyTally, RECORD_LATENCY_BOUNDS } from './latency-tally.js';
import { NotStartedError } from './not-started.js';
import type { GroupStatus } from './processor-group.js';

/** One end of a channel between threads: a worker's `parentPort`, or the `Worker` itself. */
export interface ThreadPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * What monitor, metrics and health may know of processor groups, wherever they run: this
 * thread (the runtime's own groups) or another one ({@link RemoteGroups}). Read-only.
 */
export interface GroupSource {
  /** The groups' statuses, as last known; synchronous so that probes never wait. */
  statuses(): GroupStatus[];
  /** Names of the tables and stores these groups keep. */
  tables(): string[];
  /** A key's decoded value from the local store of the partition that holds it, when owned here. */
  lookup(table: string, key: string): Promise<GroupLookup | undefined>;
  /** Local store sizes in bytes, by group and partition. */
  storeSizes(): Promise<StoreSize[]>;
}

export interface GroupLookup {
  group: string;
  partition: number;
  value: unknown;
  applied?: Record<string, number>;
}

export interface StoreSize {
  group: string;
  partition: number;
  bytes: number;
}

type Request = { kind: 'groups.request'; id: number; op: 'lookup'; table: string; key: string } | { kind: 'groups.request'; id: number; op: 'storeSizes' };
type Message =
  | Request
  | { kind: 'groups.status'; statuses: GroupStatus[]; tables: string[] }
  | { kind: 'groups.reply'; id: number; result?: unknown; error?: string };

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string' && (value as { kind: string }).kind.startsWith('groups.');

/**
 * Serves the groups of this thread to the thread at the other end of `port`: their statuses
 * pushed every `intervalMs` when they changed (and at once), lookups and store sizes on request.
 * Returns a function that stops pushing.
 *
 * What the other thread serves (`/health/ready`, `/metrics`, the monitor) is at most one interval
 * old. At 250 ms a restarted service said ready, or counted its first records, up to a quarter of
 * a second after its groups had done so (a warm restart's whole time is ~1 s). A push is a
 * structured copy of a few kilobytes, read on both threads: twenty a second of the same statuses
 * took an idle service ~0.5 % of a core, so a status that has not changed is not sent again.
 */
export function serveGroups(source: GroupSource, port: ThreadPort, intervalMs = 50): () => void {
  let last = '';
  const push = () => {
    const message = { kind: 'groups.status', statuses: source.statuses(), tables: source.tables() } satisfies Message;
    const text = JSON.stringify(message);
    if (text === last) return;
    last = text;
    port.postMessage(message);
  };
  port.on('message', (message: unknown) => {
    if (!isMessage(message) || message.kind !== 'groups.request') return;
    const work = message.op === 'lookup' ? source.lookup(message.table, message.key) : source.storeSizes();
    work.then(
      (result) => port.postMessage({ kind: 'groups.reply', id: message.id, result } satisfies Message),
      (error: unknown) => port.postMessage({ kind: 'groups.reply', id: message.id, error: String(error) } satisfies Message),
    );
  });
  push();
  const timer = setInterval(push, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    push();
  };
}

/**
 * The groups of another thread, as {@link serveGroups} tells them over `port`. Until the first
 * status arrives (the thread serves once its groups have started), each expected group shows as
 * not running (so readiness waits for it), it owns no stores, and a lookup is a
 * {@link NotStartedError}: nothing would answer it before then (nor ever, while Kafka is away).
 */
export class RemoteGroups implements GroupSource {
  private latest: GroupStatus[];
  private tableNames: string[] = [];
  private serving = false;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly port: ThreadPort,
    expectedGroups: readonly string[],
    private readonly timeoutMs = 5000,
  ) {
    this.latest = expectedGroups.map((group) => ({ group, running: false, partitions: [], processed: 0, recordsPerSecond: 0, transactions: 0, retrying: 0, commitFailures: 0, commitLatency: new LatencyTally(RECORD_LATENCY_BOUNDS).snapshot() }));
    port.on('message', (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.kind === 'groups.status') {
        this.serving = true;
        this.latest = message.statuses;
        this.tableNames = message.tables;
      } else if (message.kind === 'groups.reply') {
        const waiter = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.result);
      }
    });
  }

  /** Marks every group as not running: the thread that ran them is gone. */
  lost(): void {
    this.latest = this.latest.map((status) => ({ ...status, running: false, partitions: [] }));
    for (const waiter of this.waiting.values()) waiter.reject(new Error('the processor thread is gone'));
    this.waiting.clear();
  }

  statuses(): GroupStatus[] {
    return this.latest;
  }

  tables(): string[] {
    return this.tableNames;
  }

  lookup(table: string, key: string): Promise<GroupLookup | undefined> {
    if (!this.serving) return Promise.reject(new NotStartedError('the processor thread has not started its groups yet'));
    return this.request({ kind: 'groups.request', id: this.nextId++, op: 'lookup', table, key }) as Promise<GroupLookup | undefined>;
  }

  storeSizes(): Promise<StoreSize[]> {
    if (!this.serving) return Promise.resolve([]);
    return this.request({ kind: 'groups.request', id: this.nextId++, op: 'storeSizes' }) as Promise<StoreSize[]>;
  }

  private request(message: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(message.id);
        reject(new Error(`no answer from the processor thread within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      this.waiting.set(message.id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.port.postMessage(message);
    });
  }
}

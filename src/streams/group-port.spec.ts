import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { jest } from '@jest/globals';
import { type GroupSource, RemoteGroups, serveGroups } from './group-port.js';
import { LatencyTally, RECORD_LATENCY_BOUNDS } from './latency-tally.js';
import { NotStartedError } from './not-started.js';

/** The groups of a thread that has started them: one running group, one store, one value. */
const started: GroupSource = {
  statuses: () => [
    { group: 'sum', running: true, partitions: [], processed: 7, recordsPerSecond: 0, transactions: 1, retrying: 0, commitFailures: 0, commitLatency: new LatencyTally(RECORD_LATENCY_BOUNDS).snapshot() },
  ],
  tables: () => ['sum-table'],
  lookup: async (table, key) => ({ group: 'sum', partition: 0, value: `${table}/${key}` }),
  storeSizes: async () => [{ group: 'sum', partition: 0, bytes: 4096 }],
};

describe(serveGroups.name, () => {
  afterEach(() => jest.useRealTimers());

  it('pushes the statuses at once, then only when they changed', () => {
    jest.useFakeTimers();
    let processed = 7;
    const source: GroupSource = { ...started, statuses: () => started.statuses().map((status) => ({ ...status, processed })) };
    const pushed: number[] = [];
    const port = { postMessage: (message: unknown) => pushed.push((message as { statuses: Array<{ processed: number }> }).statuses[0].processed), on: () => undefined };
    const stop = serveGroups(source, port, 50);

    jest.advanceTimersByTime(500);
    expect(pushed).toEqual([7]);

    processed = 9;
    jest.advanceTimersByTime(500);
    stop();
    expect(pushed).toEqual([7, 9]);
  });
});

describe(RemoteGroups.name, () => {
  let ports: MessagePort[] = [];

  afterEach(() => {
    for (const port of ports) port.close();
    ports = [];
  });

  function channel(): { ours: MessagePort; theirs: MessagePort } {
    const { port1, port2 } = new MessageChannel();
    ports = [port1, port2];
    return { ours: port1, theirs: port2 };
  }

  it("answers at once while the other thread has not started its groups (it could not answer, and would not while Kafka is away)", async () => {
    const { ours } = channel();
    const remote = new RemoteGroups(ours, ['sum'], 60_000);

    expect(remote.statuses()).toMatchObject([{ group: 'sum', running: false }]);
    await expect(remote.storeSizes()).resolves.toEqual([]);
    await expect(remote.lookup('sum-table', 'k')).rejects.toThrow(NotStartedError);
  });

  it('asks the other thread once it serves its groups', async () => {
    const { ours, theirs } = channel();
    const remote = new RemoteGroups(ours, ['sum'], 5000);
    const stop = serveGroups(started, theirs, 10);
    try {
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => remote.statuses()[0].running && (clearInterval(poll), resolve()), 5);
      });

      expect(remote.tables()).toEqual(['sum-table']);
      await expect(remote.storeSizes()).resolves.toEqual([{ group: 'sum', partition: 0, bytes: 4096 }]);
      await expect(remote.lookup('sum-table', 'k')).resolves.toEqual({ group: 'sum', partition: 0, value: 'sum-table/k' });
    } finally {
      stop();
    }
  });
});

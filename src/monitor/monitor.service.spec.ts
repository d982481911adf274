import { create } from '@bufbuild/protobuf';
import type { AppConfig } from '../config/app-config.js';
import { DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import { FlagSource, FlagValueSchema } from '../gen/depositaja/v1/flag_pb.js';
import { toExactJson } from '../http/exact-json.js';
import type { GroupStatus, StreamsRuntime, TableLookup, ViewChange, ViewStatus } from '../streams/index.js';
import { MonitorService, displayable } from './monitor.service.js';

const noLatency = { counts: [], sum: 0, count: 0 };

/** The part of the streams runtime the monitor reads, with canned answers. */
function fakeRuntime(state: {
  groups?: GroupStatus[];
  views?: ViewStatus[];
  values?: Record<string, Record<string, unknown>>;
  changes?: Record<string, ViewChange[]>;
}): StreamsRuntime {
  return {
    health: () => ({ kafka: true, views: {}, groups: {} }),
    groupStatuses: () => state.groups ?? [],
    viewStatuses: () => state.views ?? [],
    tables: () => Object.keys(state.values ?? {}).sort(),
    recentViewChanges: () => state.changes ?? {},
    lookup: async (table: string, key: string): Promise<TableLookup | undefined> => {
      const value = state.values?.[table]?.[key];
      return value === undefined ? undefined : { table, key, source: 'view', value, applied: { deposit: 3 } };
    },
  } as unknown as StreamsRuntime;
}

const config = { admin: { token: 'x'.repeat(16) } } as AppConfig;

describe(MonitorService.name, () => {
  it('sums lag and dead letters over the owned partitions, tells an unknown lag from 0, and says failing offset commits', () => {
    const sut = new MonitorService(
      fakeRuntime({
        groups: [
          {
            group: 'balance',
            running: true,
            processed: 7,
            recordsPerSecond: 2,
            transactions: 3,
            retrying: 0,
            commitFailures: 0,
            commitLatency: noLatency,
            partitions: [
              { partition: 0, state: 'running', lag: { deposit: 4 }, processed: 5, skipped: 0, deadLettered: 1 },
              { partition: 1, state: 'restoring', restore: { kind: 'cold', total: 10, done: 3, startedAt: 0 }, lag: {}, processed: 0, skipped: 0, deadLettered: 0 },
              { partition: 2, state: 'running', lag: { deposit: 1 }, processed: 2, skipped: 1, deadLettered: 2 },
            ],
          },
          { group: 'idle', running: true, processed: 0, recordsPerSecond: 0, transactions: 0, retrying: 0, commitFailures: 30, commitLatency: noLatency, partitions: [{ partition: 0, state: 'running', lag: {}, processed: 0, skipped: 0, deadLettered: 0 }] },
        ],
        views: [{ table: 'balance-table', ready: false, partitions: [{ partition: 0, position: 3, end: 5, lag: 2 }, { partition: 1, position: 1, end: 1, lag: 0 }], applyLatency: noLatency }],
      }),
      config,
    );

    const summary = sut.summary();

    expect(summary.admin).toBe('enabled');
    expect(summary.groups[0]).toMatchObject({ group: 'balance', lag: 5, dead_letters: 3, processed: 7, records_per_second: 2 });
    expect(summary.groups[0].partitions[1]).toMatchObject({ state: 'restoring', lag: null, restore: { kind: 'cold', done: 3, total: 10, finished_at: null } });
    expect(summary.groups[1].lag).toBeNull();
    // Its records processed but its offsets not committed: said beside the lag it distorts.
    expect(summary.groups.map((group) => group.commit_failures)).toEqual([0, 30]);
    expect(summary.views).toEqual([expect.objectContaining({ table: 'balance-table', state: 'recovering', lag: 2 })]);
  });

  it('reports the latest change of each flagged wallet, newest first, with its value', async () => {
    const flag = create(FlagValueSchema, { flagged: true, source: FlagSource.AUTO, flaggedAtMs: 1_796_000_000_000n, reason: 'over' });
    const unflag = create(FlagValueSchema, { flagged: false, source: FlagSource.MANUAL, reason: 'checked' });
    const change = (key: string, offset: number): ViewChange => ({ key, partition: 0, offset, readAt: 1_796_000_000_000 + offset });
    const sut = new MonitorService(
      fakeRuntime({ values: { 'flagger-table': { a: flag, b: unflag } }, changes: { 'flagger-table': [change('a', 1), change('b', 2), change('a', 3)] } }),
      config,
    );

    const events = await sut.flagEvents(10);

    expect(events?.map((event) => [event.wallet_id, event.offset, event.flagged, event.source])).toEqual([
      ['a', 3, true, 'auto'],
      ['b', 2, false, 'manual'],
    ]);
    expect(events?.[0].flagged_at).toBe(new Date(1_796_000_000_000).toISOString());
    expect(await new MonitorService(fakeRuntime({}), config).flagEvents(10)).toBeUndefined();
  });
});

describe(displayable.name, () => {
  it('keeps int64 fields exact (strings once serialized) and shows bytes as hex', () => {
    const record = create(DepositRecordSchema, { depositId: 'd1', amountMinor: 9_007_199_254_740_993n, requestDigest: new Uint8Array([0xde, 0xad, 0x01]) });

    const json = JSON.parse(toExactJson(displayable(record)));

    expect(json).toMatchObject({ depositId: 'd1', amountMinor: '9007199254740993', requestDigest: 'dead01' });
  });
});

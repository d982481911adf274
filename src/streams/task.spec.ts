import { Logger } from '@nestjs/common';
import type { BatchResult } from './batch.js';
import { coPartitionedAssigner, rangeOwner } from './kafka-client.js';
import type { TransactionCoordinators } from './kafkajs-transactions.js';
import type { PartitionState, PreparedCommit } from './partition-state.js';
import type { OutgoingRecord, PartitionAck } from './producer.js';
import type { LocalStore, StoreWrite } from './state-store.js';
import { Task, type TaskProducer, partitionRuns, rangeOfTransactionalId, taskTransactionalId } from './task.js';

describe(partitionRuns.name, () => {
  it('splits partitions into runs of consecutive numbers, in order', () => {
    expect(partitionRuns(new Set([5, 0, 1, 3, 4]))).toEqual([
      { first: 0, last: 1 },
      { first: 3, last: 5 },
    ]);
    expect(partitionRuns([])).toEqual([]);
  });
});

describe('task transactional ids', () => {
  it('names one partition as each partition was named when it had a producer of its own, and a range by its ends', () => {
    expect(taskTransactionalId('p-balance', { first: 2, last: 2 })).toBe('p-balance-2');
    expect(taskTransactionalId('p-balance', { first: 0, last: 5 })).toBe('p-balance-0-5');
  });

  it("reads the range back from the group's ids only", () => {
    expect(rangeOfTransactionalId('p-balance', 'p-balance-3')).toEqual({ first: 3, last: 3 });
    expect(rangeOfTransactionalId('p-balance', 'p-balance-0-5')).toEqual({ first: 0, last: 5 });
    expect(rangeOfTransactionalId('p-balance', 'p-balance-keys-0')).toBeUndefined();
    expect(rangeOfTransactionalId('p-balance', 'q-balance-0')).toBeUndefined();
    expect(rangeOfTransactionalId('p-balance', 'p-balance-5-0')).toBeUndefined();
    expect(rangeOfTransactionalId('p-bal', 'p-balance-0')).toBeUndefined();
  });
});

describe('coPartitionedAssigner', () => {
  const assign = async (members: string[], partitions: number) => {
    const metadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId }));
    const cluster = { findTopicPartitionMetadata: () => metadata };
    const assigner = coPartitionedAssigner({ cluster } as never);
    const result = await assigner.assign({ members: members.map((memberId) => ({ memberId })), topics: ['in', 'flags'] } as never);
    const { AssignerProtocol } = await import('kafkajs');
    return new Map(result.map(({ memberId, memberAssignment }) => [memberId, AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment]));
  };

  it('gives each member a range of consecutive partitions, the same of every topic', async () => {
    const assignment = await assign(['b', 'a'], 6);
    expect(assignment.get('a')).toEqual({ in: [0, 1, 2], flags: [0, 1, 2] });
    expect(assignment.get('b')).toEqual({ in: [3, 4, 5], flags: [3, 4, 5] });
    expect((await assign(['a', 'b', 'c', 'd'], 6)).get('b')).toEqual({ in: [1, 2], flags: [1, 2] });
  });

  it('gives every partition to exactly one member, whatever their number', () => {
    for (const members of [1, 2, 3, 4, 5, 6, 7, 13]) {
      for (const partitions of [1, 6, 48]) {
        const owners = Array.from({ length: partitions }, (_, partition) => rangeOwner(partition, partitions, members));
        expect(owners.every((owner, i) => owner >= 0 && owner < members && (i === 0 || owner >= owners[i - 1]))).toBe(true);
        const sizes = Array.from({ length: members }, (_, member) => owners.filter((owner) => owner === member).length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
  });
});

/** A transactional producer that holds each send until the test commits or fails it. */
class HeldProducer implements TaskProducer {
  readonly sends: Array<{ records: readonly OutgoingRecord[]; commit: () => void; fail: (error: Error) => void }> = [];
  claims = 0;

  async claim(): Promise<void> {
    this.claims++;
  }

  send(records: readonly OutgoingRecord[], beforeCommit?: () => void): Promise<PartitionAck[]> {
    return new Promise((resolve, reject) => {
      this.sends.push({
        records,
        commit: () => {
          beforeCommit?.();
          resolve(records.map((record, i) => ({ topic: record.topic, partition: record.partition, baseOffset: i, count: 1 })));
        },
        fail: reject,
      });
    });
  }

  async close(): Promise<void> {}
}

describe(Task.name, () => {
  beforeAll(() => Logger.overrideLogger(['error', 'warn']));
  const record = (key: string): OutgoingRecord => ({ topic: 'out', partition: 0, key, value: null });
  /** A partition whose every batch writes one record, named after the batch. */
  const partition = (staged: string[]) =>
    ({
      prepare: (result: BatchResult) => ({ records: [record(String(result.handled))], localValues: [] }),
      stage: (_write: StoreWrite, prepared: PreparedCommit) => {
        staged.push(prepared.records[0].key);
        return [];
      },
    }) as unknown as PartitionState;
  const batch = (name: number) => async () => ({ handled: name }) as BatchResult;
  const store = { startWrite: () => ({ write: async () => undefined }) } as unknown as LocalStore;
  const coordinators = (ids: string[], fenced: string[]) =>
    ({
      transactionalIds: async () => ids,
      fence: async (id: string) => {
        fenced.push(id);
      },
    }) as unknown as TransactionCoordinators;
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  it('commits the batches processed together in one transaction, and writes them locally after it', async () => {
    const producer = new HeldProducer();
    const staged: string[] = [];
    const task = new Task('g', { first: 0, last: 5 }, undefined as never, { coordinators: coordinators([], []), store, producer });
    let finishSlow!: () => void;
    const slow = new Promise<void>((resolve) => (finishSlow = resolve));
    const first = task.run(partition(staged), 'in', batch(1));
    const second = task.run(partition(staged), 'in', async () => {
      await slow;
      return { handled: 2 } as BatchResult;
    });
    await settled();
    // The first waits for the second, still being processed.
    expect(producer.sends).toHaveLength(0);
    finishSlow();
    await settled();
    expect(producer.sends.map(({ records }) => records.map(({ key }) => key))).toEqual([['1', '2']]);
    expect(staged).toEqual([]);

    // A batch processed while that transaction is under way goes into the next one.
    const third = task.run(partition(staged), 'in', batch(3));
    await settled();
    expect(producer.sends).toHaveLength(1);
    producer.sends[0].commit();
    expect((await first).handled).toBe(1);
    await second;
    expect(staged).toEqual(['1', '2']);
    await settled();
    expect(producer.sends[1].records.map(({ key }) => key)).toEqual(['3']);
    producer.sends[1].commit();
    await third;
    expect(staged).toEqual(['1', '2', '3']);
  });

  it('fails every batch of a transaction that failed, and writes none of them locally', async () => {
    const producer = new HeldProducer();
    const staged: string[] = [];
    const task = new Task('g', { first: 0, last: 5 }, undefined as never, { coordinators: coordinators([], []), store, producer });
    const runs = [task.run(partition(staged), 'in', batch(1)), task.run(partition(staged), 'in', batch(2))];
    await settled();
    producer.sends[0].fail(new Error('fenced'));
    for (const run of runs) await expect(run).rejects.toThrow('fenced');
    expect(staged).toEqual([]);
  });

  it('does not wait for a batch whose processing failed', async () => {
    const producer = new HeldProducer();
    const task = new Task('g', { first: 0, last: 5 }, undefined as never, { coordinators: coordinators([], []), store, producer });
    const ok = task.run(partition([]), 'in', batch(1));
    const failing = task.run(partition([]), 'in', async () => {
      throw new Error('handler failed');
    });
    await expect(failing).rejects.toThrow('handler failed');
    await settled();
    producer.sends[0].commit();
    await ok;
  });

  it("claims its own id first, then fences the group's ids whose partitions overlap its own, and no other", async () => {
    const producer = new HeldProducer();
    const fenced: string[] = [];
    const ids = ['g-0-5', 'g-0', 'g-2', 'g-3', 'g-3-5', 'g-2-3', 'g-0-2', 'gx-1', 'g-keys-0', 'other'];
    const task = new Task('g', { first: 0, last: 2 }, undefined as never, { coordinators: coordinators(ids, fenced), store, producer });
    await task.claimed();
    await task.claimed();
    expect(producer.claims).toBe(1);
    expect(fenced.sort()).toEqual(['g-0', 'g-0-5', 'g-2', 'g-2-3']);

    // Each assignment claims again: another instance may have written the partitions meanwhile.
    task.reassigned();
    await task.claimed();
    expect(producer.claims).toBe(2);
  });
});

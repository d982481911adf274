import { createRequire } from 'node:module';
import { rejoiningConsumerGroup, startNextConsumer } from './kafkajs-consumer-group.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare with.
const load = createRequire(`${process.cwd()}/package.json`);
const ConsumerGroup = load('kafkajs/src/consumer/consumerGroup.js');

describe(rejoiningConsumerGroup.name, () => {
  const Group = rejoiningConsumerGroup(ConsumerGroup);
  const make = (groupId: string) => new Group({ groupId, logger: { namespace: () => ({}) }, retry: {} } as never);

  it('starts the next consumer of a group as the member startNextConsumer names, once', () => {
    startNextConsumer('balance', { memberId: 'member-1' });

    expect(make('threshold').memberId).toBeNull();
    expect(make('balance').memberId).toBe('member-1');
    expect(make('balance').memberId).toBeNull();
  });

  it('starts as a new member when there is none to rejoin as', () => {
    startNextConsumer('balance', { memberId: 'member-1' });
    startNextConsumer('balance', { memberId: undefined });

    expect(make('balance').memberId).toBeNull();
  });

  it("makes kafkajs's consumer group ask for whatever is there, over the minBytes it was given", () => {
    const group = new Group({ groupId: 'balance', minBytes: 512 * 1024, logger: { namespace: () => ({}) }, retry: {} } as never);

    expect(group.minBytes).toBe(1);
  });

  describe('fetches while the group is idle', () => {
    type Batch = { messages: unknown[]; isEmpty(): boolean };
    /** A consumer group that sends its fetches as kafkajs's does: minBytes and maxWaitTime read after an await. */
    class FetchingGroup {
      groupId: string;
      memberId: string | null = null;
      minBytes: number;
      maxWaitTime: number;
      readonly sent: number[] = [];
      readonly waits: number[] = [];
      answer: Batch[] | 'broker lost' = [];
      constructor(options: { groupId: string; minBytes?: number; maxWaitTimeInMs?: number }) {
        this.groupId = options.groupId;
        this.minBytes = options.minBytes ?? 1;
        this.maxWaitTime = options.maxWaitTimeInMs ?? 5000;
      }
      async joinAndSync(): Promise<void> {}
      async fetch(nodeId = '1'): Promise<Batch[]> {
        await Promise.resolve();
        this.sent.push(this.minBytes);
        this.waits.push(this.maxWaitTime);
        const answer = this.answer;
        if (answer === 'broker lost') throw new Error(`broker ${nodeId} lost`);
        return answer;
      }
    }
    const Eager = rejoiningConsumerGroup(FetchingGroup as never);
    const batch = (records: number): Batch => ({ messages: new Array<unknown>(records), isEmpty: () => records === 0 });
    const withWaits = (intervalMs: number, shortestWaitMs?: number) => {
      startNextConsumer('balance', { shortestWaitMs });
      return new Eager({ groupId: 'balance', minBytes: 512 * 1024, maxWaitTimeInMs: intervalMs }) as unknown as FetchingGroup;
    };

    it('ask for whatever is there until records come in two fetches in a row, then for minBytes while they keep coming', async () => {
      const group = new Eager({ groupId: 'balance', minBytes: 512 * 1024 }) as unknown as FetchingGroup;
      group.answer = [batch(0), batch(0)];
      await group.fetch();
      group.answer = [batch(0), batch(3)];
      await group.fetch();
      await group.fetch();
      await group.fetch();
      await group.fetch();

      expect(group.sent).toEqual([1, 1, 1, 512 * 1024, 512 * 1024]);
    });

    it('ask for whatever is there after one fetch that brought records, after one that brought nothing, and after a join', async () => {
      const group = new Eager({ groupId: 'balance', minBytes: 512 * 1024 }) as unknown as FetchingGroup;
      group.answer = [batch(3)];
      await group.fetch();
      group.answer = [batch(0)];
      await group.fetch();
      group.answer = [batch(3)];
      await group.fetch();
      await group.fetch();
      group.answer = [batch(0)];
      await group.fetch();
      await group.fetch();
      group.answer = [batch(3)];
      await group.fetch();
      await group.fetch();
      await group.joinAndSync();
      await group.fetch();

      expect(group.sent).toEqual([1, 1, 1, 1, 512 * 1024, 1, 1, 1, 1]);
    });

    it('wait for minBytes from every broker while one brings records, and not after a failed fetch', async () => {
      const group = new Eager({ groupId: 'balance', minBytes: 512 * 1024 }) as unknown as FetchingGroup;
      group.answer = [batch(3)];
      await group.fetch('1');
      await group.fetch('1');
      group.answer = [batch(0)];
      await group.fetch('2');
      await group.fetch('2');
      group.answer = 'broker lost';
      await expect(group.fetch('1')).rejects.toThrow('broker 1 lost');
      group.answer = [batch(0)];
      await group.fetch('2');

      expect(group.sent).toEqual([1, 1, 512 * 1024, 512 * 1024, 512 * 1024, 1]);
    });

    it('are held 250 ms while idle, and then wait the share of the commit interval that the last fetch earned, the shortest wait at least', async () => {
      const group = withWaits(100, 20);
      group.answer = [batch(0)];
      await group.fetch();
      group.answer = [batch(3)];
      await group.fetch();
      await group.fetch();
      group.answer = [batch(200), batch(100)];
      await group.fetch();
      group.answer = [batch(5000)];
      await group.fetch();
      await group.fetch();

      expect(group.sent).toEqual([1, 1, 1, 512 * 1024, 512 * 1024, 512 * 1024]);
      expect(group.waits).toEqual([250, 250, 250, 20, 60, 100]);
    });

    it('wait as long as the busiest broker earned, and are held 250 ms again after a join', async () => {
      const group = withWaits(100, 20);
      group.answer = [batch(400)];
      await group.fetch('1');
      await group.fetch('1');
      group.answer = [batch(50)];
      await group.fetch('2');
      await group.fetch('2');
      await group.joinAndSync();
      await group.fetch('2');

      expect(group.waits).toEqual([250, 250, 80, 80, 250]);
    });

    it('wait the whole commit interval without a shortest wait, or with one longer than the interval', async () => {
      for (const group of [withWaits(100), withWaits(100, 150)]) {
        group.answer = [batch(3)];
        await group.fetch();
        await group.fetch();
        await group.fetch();

        expect(group.waits).toEqual([250, 250, 100]);
      }
    });

    it('are held the commit interval while idle, where that is longer than 250 ms', async () => {
      const group = withWaits(400, 20);
      group.answer = [batch(0)];
      await group.fetch();
      await group.fetch();

      expect(group.waits).toEqual([400, 400]);
    });
  });
});

import type { Admin } from 'kafkajs';
import { topicOffsets } from './retry.js';

type Offsets = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

describe(topicOffsets.name, () => {
  const ends: Offsets = [{ partition: 0, offset: '7', high: '7', low: '0' }];

  /** An admin whose fetchTopicOffsets fails as `failures` say, then answers `ends`. */
  const admin = (...failures: Error[]) => {
    let calls = 0;
    return {
      calls: () => calls,
      fetchTopicOffsets: async () => {
        const failure = failures[calls++];
        if (failure) throw failure;
        return ends;
      },
    };
  };

  it('tries again when kafkajs finds no partitions for a topic whose metadata a concurrent refresh replaced', async () => {
    // What kafkajs's fetchTopicOffsets throws then: it destructures the answer it did not get.
    const raced = admin(new TypeError("Cannot destructure property 'partitions' of 'high.pop(...)' as it is undefined."));
    await expect(topicOffsets(raced, 'balance-table')).resolves.toEqual(ends);
    expect(raced.calls()).toBe(2);
  });

  it('gives up on an error that is not transient, at once', async () => {
    const refused = admin(new Error('Topic authorization failed'));
    await expect(topicOffsets(refused, 'balance-table')).rejects.toThrow('Topic authorization failed');
    expect(refused.calls()).toBe(1);
  });

  it('gives up after the attempts it was given, naming the topic', async () => {
    const broken = admin(new TypeError('a'), new TypeError('b'), new TypeError('c'));
    await expect(topicOffsets(broken, 'balance-table', 2)).rejects.toThrow('no metadata for balance-table yet');
    expect(broken.calls()).toBe(2);
  });
});

import { Partitioners } from 'kafkajs';
import { murmur2, partitionFor } from './murmur2.js';

describe('murmur2', () => {
  it("gives the hashes of Kafka's own tests (Java's UtilsTest)", () => {
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];

    expect(cases.map(([key]) => murmur2(Buffer.from(key)))).toEqual(cases.map(([, hash]) => hash));
  });

  it("chooses the partition kafkajs's default partitioner chooses, for keys of every length and script", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const alphabet = ['a', 'Z', '0', '-', 'é', 'ß', '漢', '€', '😀', '\u0000'];
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const keys = ['', ...Array.from({ length: 20_000 }, () => Array.from({ length: Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''))];
    // A key longer than the first scratch buffer too.
    keys.push('漢'.repeat(300));
    for (const count of [1, 6, 7, 48]) {
      const metadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0 }));
      const theirs = keys.map((key) => kafkajs({ topic: 't', partitionMetadata: metadata as never, message: { key: Buffer.from(key), value: null } }));

      expect(keys.map((key) => partitionFor(key, count))).toEqual(theirs);
    }
  });
});

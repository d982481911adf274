import { processorThreadCount } from './processor-threads.js';

describe(processorThreadCount.name, () => {
  it('keeps a number as it is set', () => {
    expect(processorThreadCount(0, true, 8)).toBe(0);
    expect(processorThreadCount(3, false, 2)).toBe(3);
  });

  it('gives a process with the API one thread per core beside its HTTP thread', () => {
    expect([1, 2, 4, 16].map((cores) => processorThreadCount('auto', true, cores))).toEqual([0, 1, 3, 15]);
  });

  it('runs a processors-only process on its main thread unless threads add parallelism', () => {
    expect([1, 2, 3, 8].map((cores) => processorThreadCount('auto', false, cores))).toEqual([0, 0, 2, 7]);
  });
});

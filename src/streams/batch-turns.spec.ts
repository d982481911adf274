import { BatchTurns } from './batch-turns.js';

/** A batch that records when it starts and finishes only when told. */
function batch(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const work = async () => {
    log.push(`${name} starts`);
    await done;
    log.push(`${name} ends`);
  };
  return { work, finish };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Turns with a limit of 100 records, and a batch of each name, logging into one log. */
function setUp(...names: string[]) {
  const log: string[] = [];
  return { turns: new BatchTurns(100), log, batches: names.map((name) => batch(log, name)) };
}

describe(BatchTurns.name, () => {
  it('runs the batches of one partition one after another, whatever their size', async () => {
    // A group reading two topics gets a batch of each for the same partition in one fetch.
    const {
      turns,
      log,
      batches: [deposits, flags, other],
    } = setUp('deposits 3', 'flags 3', 'deposits 4');
    const running = [turns.run(3, 2, deposits.work), turns.run(3, 1, flags.work), turns.run(4, 2, other.work)];
    await settle();
    expect(log).toEqual(['deposits 3 starts', 'deposits 4 starts']);
    deposits.finish();
    await settle();
    expect(log).toEqual(['deposits 3 starts', 'deposits 4 starts', 'deposits 3 ends', 'flags 3 starts']);
    flags.finish();
    other.finish();
    await Promise.all(running);
    expect(turns.active).toBe(0);
  });

  it('runs small batches of different partitions together', async () => {
    const {
      turns,
      log,
      batches: [a, b, c],
    } = setUp('a', 'b', 'c');
    const running = [turns.run(0, 30, a.work), turns.run(1, 30, b.work), turns.run(2, 30, c.work)];
    await settle();
    expect(log).toEqual(['a starts', 'b starts', 'c starts']);
    expect(turns.active).toBe(3);
    [a, b, c].forEach(({ finish }) => finish());
    await Promise.all(running);
    expect(turns.active).toBe(0);
  });

  it('holds back a batch that would pass the limit until those running leave room for it', async () => {
    const {
      turns,
      log,
      batches: [a, b, c],
    } = setUp('a', 'b', 'c');
    const running = [turns.run(0, 80, a.work), turns.run(1, 80, b.work), turns.run(2, 10, c.work)];
    await settle();
    expect(log).toEqual(['a starts', 'c starts']);
    a.finish();
    await settle();
    expect(log).toEqual(['a starts', 'c starts', 'a ends', 'b starts']);
    b.finish();
    c.finish();
    await Promise.all(running);
    expect(turns.active).toBe(0);
  });

  it('runs a batch larger than the limit on its own', async () => {
    const {
      turns,
      log,
      batches: [big],
    } = setUp('big');
    const running = turns.run(0, 1_000, big.work);
    await settle();
    expect(log).toEqual(['big starts']);
    big.finish();
    await running;
  });

  it('frees the turn of a batch that failed', async () => {
    const { turns } = setUp();
    await expect(turns.run(0, 80, () => Promise.reject(new Error('broker away')))).rejects.toThrow('broker away');
    expect(turns.active).toBe(0);
    await expect(turns.run(0, 80, async () => 'next')).resolves.toBe('next');
  });
});

import { setImmediate as turn } from 'node:timers/promises';
import { claimAndCatchUp } from './task-manager.js';

/** A promise and what settles it. */
function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((resolvePromise, rejectPromise) => {
    resolve = resolvePromise;
    reject = rejectPromise;
  });
  return { promise, resolve, reject };
}

/** A task whose claim and a partition whose reads of its changelogs settle when the test says. */
function partition() {
  const claim = deferred();
  const reads = [deferred(), deferred()];
  const steps: string[] = [];
  const task = {
    claimed: () => {
      steps.push('claim');
      return claim.promise;
    },
  };
  const state = {
    catchUp: () => {
      const read = reads[steps.filter((step) => step.startsWith('read')).length];
      steps.push(`read ${reads.indexOf(read) + 1}`);
      return read.promise;
    },
  };
  let settled: string | undefined;
  const done = claimAndCatchUp(task, state, new AbortController().signal).then(
    () => (settled = 'caught up'),
    (error: Error) => (settled = `failed: ${error.message}`),
  );
  return { claim, reads, steps, settled: () => settled, done };
}

describe(claimAndCatchUp.name, () => {
  it('reads the changelogs while the task claims the partition, again once the claim is done, and only then lets batches run', async () => {
    const { claim, reads, steps, settled, done } = partition();
    await turn();
    expect(steps).toEqual(['claim', 'read 1']);

    reads[0].resolve();
    await turn();
    // Until the claim, an earlier writer may still commit: nothing runs yet.
    expect(steps).toEqual(['claim', 'read 1']);
    expect(settled()).toBeUndefined();

    claim.resolve();
    await turn();
    expect(steps).toEqual(['claim', 'read 1', 'read 2']);
    expect(settled()).toBeUndefined();

    reads[1].resolve();
    await done;
    expect(settled()).toBe('caught up');
  });

  it('reports a failed claim once the read under way has finished, and reads no more', async () => {
    const { claim, reads, steps, settled, done } = partition();
    claim.reject(new Error('coordinator not available'));
    await turn();
    // A restoration left running would race the next attempt's over the same store.
    expect(settled()).toBeUndefined();

    reads[0].resolve();
    await done;
    expect(settled()).toBe('failed: coordinator not available');
    expect(steps).toEqual(['claim', 'read 1']);
  });

  it('reports a failed read once the claim is done, and reads no more', async () => {
    const { claim, reads, steps, settled, done } = partition();
    reads[0].reject(new Error('partition revoked'));
    await turn();
    expect(settled()).toBeUndefined();

    claim.resolve();
    await done;
    expect(settled()).toBe('failed: partition revoked');
    expect(steps).toEqual(['claim', 'read 1']);
  });
});

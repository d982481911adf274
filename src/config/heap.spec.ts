import { Worker } from 'node:worker_threads';
import './heap.js';

/** The young generation a new thread grows to while it allocates fast, in MB. */
function youngGenerationOfANewThread(): Promise<number> {
  const source = `
    const { getHeapSpaceStatistics } = require('node:v8');
    let kept = [];
    for (let i = 0; i < 3e6; i++) {
      kept.push({ i, text: 'x' + i });
      if (kept.length > 50000) kept = [];
    }
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    require('node:worker_threads').parentPort.postMessage(young.space_size / 1048576);
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true });
    worker.once('message', (megabytes: number) => resolve(megabytes));
    worker.once('error', reject);
  });
}

describe('heap.ts', () => {
  it("gives threads started after it 16 MB semi-spaces, whatever this Node's own default (64 MB on Node 24)", async () => {
    // Two semi-spaces of 16 MB; V8's default would give 128 MB on Node 24 and 64 MB on Node 26.
    expect(await youngGenerationOfANewThread()).toBeLessThanOrEqual(32);
  });
});

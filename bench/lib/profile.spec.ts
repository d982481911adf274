import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@jridgewell/sourcemap-codec';
import { hotSpots } from './profile';

describe('hotSpots', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'profile-spec-'));
    mkdirSync(join(root, 'dist'));
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** A bundle as scripts/build.ts writes it: a package, then a file of the service; its map keeps the service's lines only. */
  function bundle(): string {
    const path = join(root, 'dist', 'app.js');
    const lines = [
      '// node_modules/some-package/lib/index.js',
      'function parse() {}',
      '// dist/tsc/streams/batch.js',
      'function process() {}',
      'var helper = function() {};',
      '// node_modules/late-package/index.js',
      'function late() {}',
    ];
    writeFileSync(path, lines.join('\n'));
    // Line 4 of the bundle (0-based 3) is line 10 of src/streams/batch.ts; nothing else is mapped.
    const mappings = encode([[], [], [], [[0, 0, 9, 0]], [], [], []]);
    writeFileSync(`${path}.map`, JSON.stringify({ version: 3, sources: ['../src/streams/batch.ts'], names: [], mappings }));
    return path;
  }

  function profileOf(bundlePath: string, samples: Array<[functionName: string, line: number, count: number]>): string {
    const nodes = [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 }, children: samples.map((_, index) => index + 2) },
      ...samples.map(([functionName, lineNumber], index) => ({
        id: index + 2,
        callFrame: { functionName, url: `file://${bundlePath}`, lineNumber, columnNumber: 0 },
      })),
    ];
    const ids = samples.flatMap(([, , count], index) => Array.from({ length: count }, () => index + 2));
    const path = join(root, 'app.cpuprofile');
    writeFileSync(path, JSON.stringify({ startTime: 0, nodes, samples: ids, timeDeltas: ids.map(() => 1000) }));
    return path;
  }

  it("counts a bundled package's time for that package, not for the bundle's own files", () => {
    const path = profileOf(bundle(), [
      ['parse', 1, 3],
      ['process', 3, 2],
      ['helper', 4, 1],
      ['late', 6, 2],
    ]);

    const spots = hotSpots(path);

    expect(spots.totalSeconds).toBeCloseTo(0.008);
    expect(spots.areas).toEqual([
      { area: 'some-package', share: 3 / 8 },
      { area: 'src/streams/batch.ts', share: 3 / 8 },
      { area: 'late-package', share: 2 / 8 },
    ]);
    expect(spots.functions.map(({ name, where }) => `${name} ${where}`)).toEqual([
      'parse some-package/lib/index.js (dist/app.js:2)',
      'process src/streams/batch.ts:10',
      'late late-package/index.js (dist/app.js:7)',
      // Unmapped: the map's nearest entry before it, which lies in the same module.
      'helper src/streams/batch.ts:10',
    ]);
    // The service's own functions only.
    expect(spots.ownTotals.map(({ name }) => name)).toEqual(['process', 'helper']);
  });

  it("leaves a package's own build as it is, comments and all", () => {
    const path = join(root, 'node_modules', 'built-package', 'dist', 'index.js');
    mkdirSync(join(root, 'node_modules', 'built-package', 'dist'), { recursive: true });
    writeFileSync(path, ['// src/inner.ts', 'function inner() {}'].join('\n'));

    const spots = hotSpots(profileOf(path, [['inner', 1, 1]]));

    expect(spots.areas).toEqual([{ area: 'built-package', share: 1 }]);
    expect(spots.functions.map(({ name, where }) => `${name} ${where}`)).toEqual(['inner built-package/dist/index.js:2']);
  });
});

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * A bundle loaded through the code cache, in fresh node processes as the service's starts are:
 * the first writes the cache, the next use it, another build of the bundle is not fooled by it,
 * and stack traces keep their source maps throughout.
 */
describe('requireBundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'code-cache-'));
  const bundle = join(dir, 'app.js');
  const loader = join(dir, 'load.js');

  beforeAll(() => {
    buildApp('41');
    // The loader: code-cache.ts bundled as it is, loading app.js, saving, and saying what it saw.
    buildSync({
      stdin: {
        contents: `
          import { requireBundle, saveCodeCaches } from './code-cache';
          const app = requireBundle<{ answer(): number; fail(): never }>(${JSON.stringify(bundle)});
          // Later, after a full collection, as a long-running service's errors come.
          setTimeout(() => {
            (globalThis as { gc?: () => void }).gc?.();
            let stack = '';
            try { app.fail(); } catch (error) { stack = (error as Error).stack ?? ''; }
            console.log(JSON.stringify({ answer: app.answer(), saved: saveCodeCaches(), stack }));
          }, 10);
        `,
        resolveDir: join(process.cwd(), 'src'),
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: loader,
      logLevel: 'error',
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** app.ts, bundled with its source map as the service's bundles are; `answer` returns `value`. */
  function buildApp(value: string): void {
    writeFileSync(join(dir, 'app.ts'), `export function answer(): number {\n  return ${value} + 1;\n}\n\nexport function fail(): never {\n  throw new Error('failed on purpose');\n}\n`);
    buildSync({ entryPoints: [join(dir, 'app.ts')], bundle: true, platform: 'node', format: 'cjs', sourcemap: true, outfile: bundle, logLevel: 'error' });
  }

  function start(): { answer: number; saved: Array<{ state: string; written: boolean }>; stack: string } {
    const run = spawnSync(process.execPath, ['--enable-source-maps', '--expose-gc', loader], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as ReturnType<typeof start>;
  }

  it('writes the cache on a first start, uses it on the next, and refuses it for another build', () => {
    const first = start();
    expect(first).toMatchObject({ answer: 42, saved: [{ state: 'absent', written: true }] });
    expect(existsSync(join(dir, '.code-cache', 'app.js.v8'))).toBe(true);

    const second = start();
    expect(second).toMatchObject({ answer: 42, saved: [{ state: 'used', written: false }] });

    // Another build, of the same length: V8 itself would take the old cache for it.
    const before = readFileSync(bundle, 'utf8');
    buildApp('51');
    expect(readFileSync(bundle, 'utf8')).toHaveLength(before.length);
    expect(start()).toMatchObject({ answer: 52, saved: [{ state: 'stale', written: true }] });
    expect(start()).toMatchObject({ answer: 52, saved: [{ state: 'used', written: false }] });
  });

  it('keeps source-mapped stack traces, with and without a cache', () => {
    rmSync(join(dir, '.code-cache'), { recursive: true, force: true });
    const uncached = start();
    const cached = start();

    expect(cached.saved).toMatchObject([{ state: 'used' }]);
    for (const { stack } of [uncached, cached]) {
      expect(stack).toContain('failed on purpose');
      expect(stack).toContain(`${join(dir, 'app.ts')}:6:`);
    }
  });

  it('runs on, uncached, where the cache cannot be written', () => {
    rmSync(join(dir, '.code-cache'), { recursive: true, force: true });
    writeFileSync(join(dir, '.code-cache'), 'a file where the folder would be');

    expect(start()).toMatchObject({ answer: 52, saved: [{ state: 'absent', written: false }] });
    expect(start()).toMatchObject({ answer: 52, saved: [{ state: 'absent', written: false }] });
    rmSync(join(dir, '.code-cache'));
  });
});

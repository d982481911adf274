/**
 * Loads the service's bundles (dist/bootstrap.js, dist/processor-thread.js) through V8's code
 * cache, which Node 22 offers as `module.enableCompileCache()` and Node 20 does not: a start
 * then reads the compiled functions back instead of parsing ~9 MB of JavaScript and compiling,
 * one by one, every function start-up calls. The cache of a bundle is written once start-up is
 * done (`saveCodeCaches`), so it holds those functions too, not only the bundle's top level.
 *
 * It lives in `.code-cache/` beside the bundles, trusted as they are: V8 runs what it holds.
 * A bundle whose cache is missing, stale (another build, another node) or unwritable (a
 * read-only install) loads as `require` would, only slower. Stack traces keep their source maps.
 * This file is a bundle of its own (dist/code-cache.js), so that a thread and the bundles it
 * loads share one copy of it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

/** What a load found in the cache: `used`, `absent` or `stale` (a cache V8 or its key refused). */
export type CodeCacheState = 'used' | 'absent' | 'stale';

interface LoadedBundle {
  readonly script: Script;
  readonly cacheFile: string;
  readonly key: Buffer;
  readonly state: CodeCacheState;
  /** Node keeps a source map only as long as the module it was read for: kept here. */
  readonly sourceMapHolder?: Module;
}

const loaded = new Map<string, LoadedBundle>();

/**
 * `require(filename)` for a CommonJS bundle, compiled with the code cache it had from an
 * earlier start when that cache still fits it.
 */
export function requireBundle<Exports>(filename: string): Exports {
  const source = readFileSync(filename, 'utf8');
  const cacheFile = join(dirname(filename), '.code-cache', `${basename(filename)}.v8`);
  // V8 checks a cache against the source's length only: the key checks the content.
  const key = Buffer.from(`${crc32(source).toString(16).padStart(8, '0')} ${process.version} ${process.arch}\n`);
  const cached = readCache(cacheFile, key);
  const script = new Script(Module.wrap(source), { filename, cachedData: cached === 'absent' || cached === 'stale' ? undefined : cached });
  const state: CodeCacheState = typeof cached === 'string' ? cached : script.cachedDataRejected ? 'stale' : 'used';
  const sourceMapHolder = script.sourceMapURL && process.sourceMapsEnabled ? readSourceMap(filename, script.sourceMapURL) : undefined;
  loaded.set(filename, { script, cacheFile, key, state, sourceMapHolder });

  const module = new Module(filename);
  module.filename = filename;
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(filename), module, filename, dirname(filename));
  module.loaded = true;
  return module.exports as Exports;
}

/**
 * Writes the cache of every bundle this thread loaded without a usable one, V8's compiled code
 * as it is now. Call it once start-up is done. A cache that cannot be written is left unwritten.
 */
export function saveCodeCaches(): Array<{ filename: string; state: CodeCacheState; written: boolean }> {
  return [...loaded].map(([filename, bundle]) => ({ filename, state: bundle.state, written: bundle.state !== 'used' && writeCache(bundle) }));
}

function readCache(cacheFile: string, key: Buffer): Buffer | 'absent' | 'stale' {
  let file: Buffer;
  try {
    file = readFileSync(cacheFile);
  } catch {
    return 'absent';
  }
  return file.subarray(0, key.length).equals(key) ? file.subarray(key.length) : 'stale';
}

function writeCache(bundle: LoadedBundle): boolean {
  try {
    mkdirSync(dirname(bundle.cacheFile), { recursive: true });
    // Renamed into place: the processes and threads that load one bundle may all be writing it.
    const partial = `${bundle.cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(partial, Buffer.concat([bundle.key, bundle.script.createCachedData()]));
    renameSync(partial, bundle.cacheFile);
    return true;
  } catch {
    return false;
  }
}

/**
 * Node reads a file's source map (under --enable-source-maps) when its own loader compiles
 * the file. Compiling a file's `sourceMappingURL` comment alone through that loader makes node
 * read the map, under the file's name, for the code compiled here; node forgets it once the
 * module it compiled is collected, so that module is returned to be kept.
 */
function readSourceMap(filename: string, sourceMapURL: string): Module | undefined {
  const holder = new Module(filename) as Module & { _compile(content: string, filename: string): void };
  try {
    holder._compile(`//# sourceMappingURL=${sourceMapURL}`, filename);
  } catch {
    // A loader of another node that compiles differently: stack traces show the bundle's lines.
    return undefined;
  }
  return holder;
}

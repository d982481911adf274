/**
 * npm run build — compiles the service, then bundles each file that starts a process or a thread
 * into one file of dist/: `node dist/main.js`, `node dist/processor.js`, the processor thread, the
 * listener helper, `node dist/cli/flag-wallet.js`.
 *
 * Compiling is `nest build` (tsc, into dist/tsc/, which runs as it is too): Nest's dependency
 * injection reads the decorator metadata tsc emits, which esbuild cannot. Bundling that output is
 * esbuild's: a thread of the service loaded ~1,200 modules from node_modules (~0.9 s on 2 cores,
 * most of it finding, reading and compiling files), where one bundle loads in ~0.5 s; the main
 * thread and the processor thread load theirs at once on every start (docs/BENCHMARKS.md).
 *
 * `--if-stale` (npm start, npm test, the CLI) builds only when an input changed since the last
 * build: one takes ~10 s on 2 cores, even with nothing to do.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SourceMapSegment, decode, encode } from '@jridgewell/sourcemap-codec';
import { type Plugin, build as bundle } from 'esbuild';
import { forgetBuild, inputsDigest, isBuildOfInputs, recordBuild } from './lib/build-inputs';
import { namingSelfReferringClasses } from './lib/class-names';

/**
 * What starts a process or a thread, as paths in dist/tsc/ and dist/ (a processor thread starts
 * from processor-thread-loader); bootstrap, the rest of the service that main and processor load
 * once their processor threads are on their way, and processor-thread, the thread's own; and
 * code-cache, which loads those two (src/code-cache.ts).
 */
const ENTRIES = ['main', 'processor', 'bootstrap', 'processor-thread', 'processor-thread-loader', 'listener-copies', 'cli/flag-wallet', 'code-cache'];

/**
 * Loaded from node_modules at run time, not bundled: kafkajs, because src/streams/kafkajs-patches.ts
 * replaces modules inside it (in require's cache); classic-level and @node-rs/crc32, native addons
 * found beside their package.json; pino, whose transports run files of their own packages on threads.
 */
const EXTERNAL = ['kafkajs', 'classic-level', '@node-rs/crc32', 'pino', 'pino-pretty', 'thread-stream'];

/*
 * Packages Nest loads only when a feature asks for them (another HTTP platform, WebSockets, other
 * transports) and that the service does not install: left for run time, where they are never
 * required.
 */
const notInstalledIsExternal: Plugin = {
  name: 'not-installed-is-external',
  setup(build) {
    const again = Symbol('resolving');
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === again) return undefined;
      const resolved = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: again });
      return resolved.errors.length > 0 ? { path: args.path, external: true } : resolved;
    });
  },
};

/*
 * launch.ts starts the processor threads from a few small modules, then loads bootstrap.js (Nest,
 * fastify, Swagger, every module of the service). Bundled into main.js, that rest would be read
 * and compiled before the first line of main ran: the threads started ~0.2 s later on every start.
 * So it stays a file of its own, which main.js and processor.js load from beside them. So does
 * code-cache.js, which loads it: the bundles a thread loads through it share its one copy.
 */
const bundlesApart: Plugin = {
  name: 'bundles-apart',
  setup(build) {
    build.onResolve({ filter: /^\.\/bootstrap\.js$/ }, (args) => (args.importer.endsWith(join('dist', 'tsc', 'launch.js')) ? { path: args.path, external: true } : undefined));
    build.onResolve({ filter: /^\.\/code-cache\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Builds unless dist/ holds every bundle, built from the inputs as they are now. Returns whether it built. */
export async function buildServiceIfStale(root = process.cwd(), signal?: AbortSignal): Promise<boolean> {
  if (isBuildOfInputs(root, ENTRIES.map((entry) => join('dist', `${entry}.js`)))) return false;
  await buildService(root, signal);
  return true;
}

/** Builds dist/; `signal` stops the compiler (npm start, when the broker does not start). */
export async function buildService(root = process.cwd(), signal?: AbortSignal): Promise<void> {
  const digest = inputsDigest(root);
  forgetBuild(root);
  // Not spawnSync: npm start starts Kafka meanwhile.
  const nest = spawn(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build'], { cwd: root, stdio: 'inherit', signal });
  const status = await new Promise<number | null>((resolve, reject) => nest.once('error', reject).once('exit', resolve));
  if (status !== 0) throw new Error('nest build failed (see above)');
  await bundle({
    absWorkingDir: root,
    entryPoints: ENTRIES.map((entry) => ({ in: join('dist', 'tsc', `${entry}.js`), out: entry })),
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // No keepNames: it wraps every named function and class in a call that redefines its name, on
    // every creation, closures on the request path included (GET /check ~25 % fewer requests/s).
    // Names survive anyway, but where two modules' names collide in one bundle (rxjs's and
    // class-validator's helpers), one of them gains a number; a class that refers to itself, which
    // esbuild names after its inner binding (`X = class _X`), is named again below
    // (namingSelfReferringClasses: Nest's loggers and the OpenAPI document read class names).
    // Chained through tsc's maps: --enable-source-maps shows src/*.ts in stack traces.
    sourcemap: true,
    sourcesContent: false,
    external: EXTERNAL,
    plugins: [bundlesApart, notInstalledIsExternal],
    // import() of a file left outside the bundles (bootstrap.js) becomes require(): node's import()
    // of a CommonJS file first scans all of its source for the names it exports (~6 MB here).
    supported: { 'dynamic-import': false },
    // Nest's packages are ES modules, some of which find files of their own from import.meta.url.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
  });
  for (const entry of ENTRIES) {
    const path = join(root, 'dist', `${entry}.js`);
    const shifts = latin1Only(path);
    // After the escapes: it only appends to the ends of lines, which no source map column points past.
    writeFileSync(path, namingSelfReferringClasses(readFileSync(path, 'utf8')).source);
    ownSourcesOnly(`${path}.map`, shifts);
  }
  recordBuild(root, digest);
}

/**
 * Rewrites a bundle so that every character of it fits in one byte: each one above U+00FF becomes
 * its `\uXXXX` escape. V8 keeps a script's whole source in memory, and in two bytes per character
 * as soon as one character needs them; esbuild escapes strings but leaves regular expressions
 * (validator's alphabets of every locale) and some comments as they are. So bootstrap.js (6 MB)
 * took 12 MB of the main thread's heap and processor-thread.js 7 MB of the processor thread's.
 * An escape means the same character in a regular expression, a string, a template's value, an
 * identifier and a comment alike; not after a backslash, nor for a line terminator (U+2028,
 * U+2029), which stop the build instead.
 *
 * Returns, line by line, the columns (in the original line) of the characters escaped, for the
 * source map.
 */
function latin1Only(path: string): Map<number, number[]> {
  const lines = readFileSync(path, 'utf8').split('\n');
  const shifts = new Map<number, number[]>();
  lines.forEach((line, index) => {
    const columns: number[] = [];
    lines[index] = line.replace(/[\u0100-\uffff]/g, (character, column: number) => {
      const escaped = /\\*$/.exec(line.slice(0, column))![0].length % 2 === 1;
      if (escaped || character === '\u2028' || character === '\u2029') {
        throw new Error(`${path}:${index + 1}:${column + 1}: U+${character.charCodeAt(0).toString(16)} cannot be written as an escape here`);
      }
      columns.push(column);
      return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
    });
    if (columns.length > 0) shifts.set(index, columns);
  });
  writeFileSync(path, lines.join('\n'));
  return shifts;
}

/**
 * Keeps a bundle's source map to the service's own sources. Node reads the whole map of every
 * file it loads with --enable-source-maps (npm start's way), on every thread: the packages' part
 * was nine tenths of it and ~13 MB of the process's memory. Their frames in a stack trace show
 * the bundle's line instead. Columns after the escapes of {@link latin1Only} move with them.
 */
function ownSourcesOnly(path: string, shifts: Map<number, number[]>): void {
  const map = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; mappings: string };
  const renumbered = new Map<number, number>();
  const sources: string[] = [];
  map.sources.forEach((source, index) => {
    if (source.includes('node_modules/')) return;
    renumbered.set(index, sources.length);
    sources.push(source);
  });
  const lines = decode(map.mappings).map((line, index) =>
    line.flatMap((segment): SourceMapSegment[] => {
      const source = segment.length > 1 ? renumbered.get(segment[1]!) : undefined;
      return source === undefined ? [] : [[shifted(segment[0], shifts.get(index)), source, ...segment.slice(2)] as SourceMapSegment];
    }),
  );
  writeFileSync(path, JSON.stringify({ ...map, sources, mappings: encode(lines) }));
}

/** A generated column once the escapes before it (five characters longer each) are in. */
function shifted(column: number, escaped: number[] | undefined): number {
  if (!escaped) return column;
  let before = 0;
  while (before < escaped.length && escaped[before]! < column) before++;
  return column + 5 * before;
}

if (require.main === module) {
  (process.argv.includes('--if-stale') ? buildServiceIfStale() : buildService()).catch((error: unknown) => {
    console.error(`build: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}

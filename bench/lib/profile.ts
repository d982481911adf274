/** Hot spots of a V8 CPU profile (node --cpu-prof): self time by function and by area. */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  /** µs on the machine's monotonic clock (the one process.hrtime reads). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpots {
  totalSeconds: number;
  functions: Array<{ name: string; where: string; share: number }>;
  areas: Array<{ area: string; share: number }>;
  /** The project's own functions by total time (themselves and what they call). */
  ownTotals: Array<{ name: string; where: string; share: number }>;
}

/** Where a script belongs: a package, a file of the service, Node.js itself, or V8's own work. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/(?:dist\/tsc|dist|src)\/(.+?)\.[jt]s$/.exec(url);
  if (own) return `src/${own[1]}.ts`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

/** A script's path from its package or the project's dist/ on (`kafkajs/src/protocol/…`, `src/streams/batch.ts`). */
function fileOf(url: string): string {
  const inPackage = /node_modules\/(.+)$/.exec(url);
  if (inPackage) return inPackage[1];
  const own = /\/(?:dist\/tsc|dist|src)\/(.+?)\.[jt]s$/.exec(url);
  if (own) return `src/${own[1]}.ts`;
  return url.replace(/^file:\/\//, '');
}

/**
 * The frame where its code was written: dist/'s bundles (scripts/build.ts) hold the service and
 * its packages in one file each, which their source maps take apart again.
 */
function original(frame: ProfileNode['callFrame'], maps: Map<string, SourceMap | undefined>): ProfileNode['callFrame'] {
  if (!frame.url.startsWith('file://')) return frame;
  if (!maps.has(frame.url)) {
    const mapPath = `${fileURLToPath(frame.url)}.map`;
    maps.set(frame.url, existsSync(mapPath) ? new SourceMap(JSON.parse(readFileSync(mapPath, 'utf8'))) : undefined);
  }
  const entry = maps.get(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
  if (!entry?.originalSource) return frame;
  const source = resolve(dirname(fileURLToPath(frame.url)), entry.originalSource);
  return { ...frame, url: `file://${source}`, lineNumber: entry.originalLine ?? frame.lineNumber };
}

/** Functions esbuild's bundles wrap modules in (scripts/build.ts). */
const BUNDLE_WRAPPER = /^(__[a-zA-Z]+|(dist|node_modules)\/.+)$/;

/** Samples from `fromUs` to `toUs` on the monotonic clock (process.hrtime's, in µs). */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** Hot spots of the profile at `path`, of all its samples or of those in `window`. */
export function hotSpots(path: string, top = 15, window?: ProfileWindow): HotSpots {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const maps = new Map<string, SourceMap | undefined>();
  const byId = new Map(profile.nodes.map((node) => [node.id, { ...node, callFrame: original(node.callFrame, maps) }]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[index];
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  let total = 0;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = functions.get(key) ?? { name: functionName || '(anonymous)', where: url ? `${fileOf(url)}:${lineNumber + 1}` : area, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  // Total time of the project's functions: a node's self time counts for it and every
  // ancestor, once per function (recursion counted once).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const ownTotals = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
      // The service's functions; not its modules' top-level code (loading, at start-up), nor the
      // bundle's wrappers of it (`__require`, `__init`, one named after each module's path).
      if (url.includes('/node_modules/') || !/\/(dist|src)\//.test(url) || (lineNumber === 0 && !functionName) || BUNDLE_WRAPPER.test(functionName)) continue;
      const key = `${functionName}@${url}:${lineNumber}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = ownTotals.get(key) ?? { name: functionName || '(anonymous)', where: `${fileOf(url)}:${lineNumber + 1}`, us: 0 };
      entry.us += us;
      ownTotals.set(key, entry);
    }
  }
  return {
    totalSeconds: total / 1e6,
    ownTotals: [...ownTotals.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ name, where, us }) => ({ name, where, share: us / total })),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ name, where, us }) => ({ name, where, share: us / total })),
    areas: [...areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, share: us / total })),
  };
}

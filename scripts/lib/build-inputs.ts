/**
 * Whether dist/ is the build of the sources as they are now, so that `npm start` can skip a build
 * that would change nothing (~10 s on 2 cores).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a build reads besides node_modules, which the lock file stands for: the service's sources
 * (its tests apart), the compiler's settings and the build script. The Dockerfile's build stage
 * copies these (the spec checks it).
 */
export const BUILD_INPUTS = ['src', 'tsconfig.json', 'nest-cli.json', 'package.json', 'package-lock.json', 'scripts/build.ts', 'scripts/lib/build-inputs.ts', 'scripts/lib/class-names.ts'];

/** The digest of the inputs of the build that wrote dist/, written once that build succeeded. */
const STAMP = join('dist', '.build-inputs');

/** A digest of every input's path and content. */
export function inputsDigest(root: string): string {
  const files = BUILD_INPUTS.flatMap((input) => {
    const path = join(root, input);
    if (!existsSync(path)) return [];
    return statSync(path).isDirectory() ? readdirSync(path, { recursive: true, encoding: 'utf8' }).map((file) => join(input, file)) : [input];
  });
  const hash = createHash('sha256');
  for (const file of files.filter((name) => !name.endsWith('.spec.ts')).sort()) {
    if (!statSync(join(root, file)).isFile()) continue;
    hash.update(file).update('\0').update(readFileSync(join(root, file))).update('\0');
  }
  return hash.digest('hex');
}

/** True when every output exists and the last build that succeeded read the inputs as they are. */
export function isBuildOfInputs(root: string, outputs: string[]): boolean {
  const stamp = join(root, STAMP);
  if (!existsSync(stamp) || !outputs.every((output) => existsSync(join(root, output)))) return false;
  return readFileSync(stamp, 'utf8') === inputsDigest(root);
}

/** Called before a build writes anything: until it succeeds, dist/ is no one's build. */
export function forgetBuild(root: string): void {
  rmSync(join(root, STAMP), { force: true });
}

/** Called once a build succeeded, with the digest of the inputs it read (taken before it began). */
export function recordBuild(root: string, digest: string): void {
  writeFileSync(join(root, STAMP), digest);
}

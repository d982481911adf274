/**
 * npm run proto:check — fails when src/gen is not what `npm run proto` would generate now,
 * or when buf lint finds a problem. Generates into a scratch folder; changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

if (process.argv.includes('--help')) {
  console.log('Usage: npm run proto:check\nRuns buf lint and checks that src/gen matches a fresh buf generate.');
  process.exit(0);
}

const buf = join('node_modules', '.bin', 'buf');
execFileSync(buf, ['lint'], { stdio: 'inherit' });
const scratch = mkdtempSync(join(tmpdir(), 'depositaja-proto-'));
try {
  execFileSync(buf, ['generate', '--output', scratch], { stdio: 'inherit' });
  const fresh = join(scratch, 'src', 'gen');
  const committed = join('src', 'gen');
  const names = new Set([...files(fresh).map((f) => relative(fresh, f)), ...files(committed).map((f) => relative(committed, f))]);
  const stale = [...names].filter((name) => {
    try {
      return readFileSync(join(fresh, name), 'utf8') !== readFileSync(join(committed, name), 'utf8');
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(`src/gen is stale (${stale.join(', ')}): run \`npm run proto\` and commit the result`);
    process.exit(1);
  }
  console.log(`src/gen is fresh (${names.size} files)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

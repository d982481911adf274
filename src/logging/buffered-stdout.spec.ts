import { pbkdf2 } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferedStdout } from './buffered-stdout.js';

describe(bufferedStdout.name, () => {
  it('has written every line when flushSync returns, as at exit, where nothing asynchronous is waited for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'depositaja-stdout-'));
    const fd = openSync(join(dir, 'out'), 'w');
    // libuv's pool kept busy meanwhile: a line handed over through it would still wait for a thread.
    const busy = Array.from({ length: 16 }, () => new Promise((resolve) => pbkdf2('x', 'y', 200_000, 32, 'sha256', resolve)));
    try {
      const stream = bufferedStdout(fd) as unknown as { write(line: string): boolean; flushSync(): void };
      stream.write('{"msg":"first"}\n');
      stream.write('{"msg":"second"}\n');
      stream.flushSync();

      expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('{"msg":"first"}\n{"msg":"second"}\n');
    } finally {
      await Promise.all(busy);
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

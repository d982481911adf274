import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetBuild, inputsDigest, isBuildOfInputs, recordBuild } from './build-inputs';

describe(isBuildOfInputs.name, () => {
  let root: string;
  const write = (file: string, text: string) => {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), text);
  };
  const outputs = ['dist/main.js', 'dist/processor.js'];
  const build = () => {
    forgetBuild(root);
    for (const output of outputs) write(output, '// built');
    recordBuild(root, inputsDigest(root));
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'depositaja-build-'));
    write('src/main.ts', 'main();');
    write('src/money/money.ts', 'export const cents = 100n;');
    write('src/money/money.spec.ts', "it('parses', () => {});");
    write('tsconfig.json', '{}');
    write('package-lock.json', '{"lockfileVersion": 3}');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is false before the first build, and true after it while nothing changes', () => {
    expect(isBuildOfInputs(root, outputs)).toBe(false);
    build();
    expect(isBuildOfInputs(root, outputs)).toBe(true);
  });

  it('is false once a source, a new source, the compiler settings or the lock file changed', () => {
    for (const [file, text] of [
      ['src/money/money.ts', 'export const cents = 101n;'],
      ['src/wallet/wallet.ts', 'export {};'],
      ['tsconfig.json', '{"compilerOptions": {}}'],
      ['package-lock.json', '{"lockfileVersion": 3, "packages": {}}'],
    ]) {
      build();
      write(file!, text!);
      expect([file, isBuildOfInputs(root, outputs)]).toEqual([file, false]);
    }
  });

  it('is false when an output is missing, or when a build began and did not finish', () => {
    build();
    rmSync(join(root, 'dist/processor.js'));
    expect(isBuildOfInputs(root, outputs)).toBe(false);

    build();
    forgetBuild(root);
    expect(isBuildOfInputs(root, outputs)).toBe(false);
  });

  it('ignores the tests beside the sources, which the build does not read', () => {
    build();
    write('src/money/money.spec.ts', "it('parses twice', () => {});");
    expect(isBuildOfInputs(root, outputs)).toBe(true);
  });
});

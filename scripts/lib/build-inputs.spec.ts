import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILD_INPUTS, forgetBuild, inputsDigest, isBuildOfInputs, recordBuild } from './build-inputs';

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

describe('BUILD_INPUTS', () => {
  // jest runs from the project root.
  const root = process.cwd();

  /** The files a script imports by relative path, and theirs, from the project root. */
  const localImports = (file: string, seen = new Set<string>()): Set<string> => {
    for (const [, path] of readFileSync(join(root, file), 'utf8').matchAll(/from '(\.\.?\/[^']+)'/g)) {
      const imported = join(dirname(file), `${path.replace(/\.js$/, '')}.ts`);
      if (!seen.has(imported)) localImports(imported, seen.add(imported));
    }
    return seen;
  };

  it('hold every file of the project that the build script imports', () => {
    const outside = [...localImports('scripts/build.ts')].filter((file) => !BUILD_INPUTS.some((input) => file === input || file.startsWith(`${input}/`)));
    expect(outside).toEqual([]);
  });

  it("are what the Docker image's build stage copies before it builds", () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const buildStage = dockerfile.slice(0, dockerfile.indexOf('RUN npm run build'));
    const copied = [...buildStage.matchAll(/^COPY (.+) \S+$/gm)].flatMap(([, sources]) => sources.split(/\s+/));
    expect(BUILD_INPUTS.filter((input) => !copied.includes(input))).toEqual([]);
  });
});

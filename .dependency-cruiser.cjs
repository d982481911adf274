/**
 * Architecture rules, checked in CI (npm run deps:validate):
 * the dependency direction is domain modules -> streams -> kafkajs / classic-level / protobuf.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular imports make module load order matter and hide design problems.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'streams-is-domain-free',
      severity: 'error',
      comment: 'src/streams is a library: it never imports the wallet domain or the app around it.',
      from: { path: '^src/streams/' },
      to: { path: '^src/', pathNot: '^src/streams/' },
    },
    {
      name: 'kafka-only-in-streams',
      severity: 'error',
      comment: 'Every kafkajs call stays behind src/streams, so the client can be swapped in one place.',
      from: { path: '^src/', pathNot: '^src/streams/' },
      to: { path: 'node_modules/kafkajs' },
    },
    {
      name: 'leveldb-only-in-streams',
      severity: 'error',
      comment: 'State stores are the core\'s business; domain code reads views and contexts.',
      from: { path: '^src/', pathNot: '^src/streams/' },
      to: { path: 'node_modules/(classic-level|abstract-level)' },
    },
    {
      name: 'controllers-never-import-kafkajs',
      severity: 'error',
      from: { path: '\\.controller\\.ts$' },
      to: { path: 'node_modules/kafkajs' },
    },
    {
      name: 'generated-code-imports-nothing-of-ours',
      severity: 'error',
      from: { path: '^src/gen/' },
      to: { path: '^src/', pathNot: '^src/gen/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.spec\\.ts$' },
  },
};

/**
 * Architecture rules, checked in CI (npm run deps:validate):
 * the dependency direction is features -> contracts and shared helpers -> streams -> kafkajs /
 * classic-level / protobuf.
 *
 * A feature is any folder of src/ that is not one of SHARED below (admin, balance, cli,
 * deposit, flagger, health, monitor, threshold, wallet today; a new folder is one by default).
 * The files at the top of src/ (main.ts, processor.ts, bootstrap.ts, app.module.ts,
 * processor-thread(s).ts) are the composition roots: they alone put features together.
 * @type {import('dependency-cruiser').IConfiguration}
 */

/**
 * What every feature may import besides itself:
 * - contracts: what features share: the topic map, events and their checks, table keys,
 *   wallet ids, read tokens (in Goka, the group graph);
 * - streams: the core; gen: the generated protobuf code;
 * - the process's shared edge and infrastructure, each used by several features and by the
 *   composition roots: http (guards, DTOs, filters and the server of the HTTP edge), config (the
 *   validated configuration), logging, metrics (the process's one Prometheus registry, which
 *   the deposit path and the HTTP edge record into), money (the one amount type).
 */
const SHARED = '^src/(contracts|streams|gen|http|config|logging|metrics|money)/';

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
      name: 'features-import-no-other-feature',
      severity: 'error',
      comment:
        'A feature imports only itself and the shared folders (SHARED above); what two features share ' +
        'belongs in src/contracts (data) or a shared helper folder (code). Only the composition roots wire features together.',
      from: { path: '^src/([^/]+)/', pathNot: SHARED },
      to: { path: '^src/', pathNot: ['^src/$1/', SHARED] },
    },
    {
      name: 'shared-code-imports-no-feature',
      severity: 'error',
      comment: 'The shared folders are below every feature: they never import a feature or a composition root.',
      from: { path: '^src/(contracts|http|config|logging|metrics|money)/' },
      to: { path: '^src/', pathNot: SHARED },
    },
    {
      name: 'contracts-are-plain',
      severity: 'error',
      comment:
        'Contracts are read by processors and edges alike: topics, events, keys and ids are built from ' +
        'the generated code, the streams core and money only, never from the HTTP edge or the process around them.',
      from: { path: '^src/contracts/' },
      to: { path: '^src/', pathNot: '^src/(contracts|gen|streams|money)/' },
    },
    {
      name: 'streams-is-domain-free',
      severity: 'error',
      comment:
        'src/streams is a library: it never imports the wallet domain or the app around it. The one generated schema it may ' +
        'see is its own StoreBatch (its spec checks the core\'s wire format against proto/).',
      from: { path: '^src/streams/' },
      to: { path: '^src/', pathNot: ['^src/streams/', '^src/gen/depositaja/v1/store_batch_pb\\.ts$'] },
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
    // Unit specs are cruised too: a spec beside a feature's code keeps to that feature's rules.
  },
};

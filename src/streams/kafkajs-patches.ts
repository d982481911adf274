/**
 * Five fixes to kafkajs 2.2.4, its last release, found by profiling the processors (B2):
 *
 * - its producer groups a send's messages by partition by copying the partition's array for
 *   every message (`[...current, message]`): O(n²) in the messages of a partition, 9 % of the
 *   CPU on batches of thousands;
 * - it encodes each record, and each header, into a fresh zero-filled 512-byte buffer before
 *   copying it into the batch, and each varint of it through an array, a buffer and 64-bit
 *   objects of its own: most of the garbage the processors made;
 * - it copies a produce request's bytes about seven times on their way into the request, through
 *   encoders that start small and double, and copies each message into an object of its own:
 *   the request is now written once, in one buffer ({@link produceRequest}, kafkajs-produce.ts),
 *   and its batches' CRC-32C computed natively (@node-rs/crc32) rather than a byte per step;
 * - it decodes every field of every fetched record as the fetch arrives (two Buffers, two
 *   decimal strings made through 64-bit objects, one allocation per varint byte, and a headers
 *   object), and they live until the record's batch is committed: the records are now read on
 *   access ({@link recordDecoder}), from their batch's bytes rather than from a Buffer sliced
 *   out for each ({@link recordBatchDecoder});
 * - its batch of a fetched partition compares every record's offset with the one asked for
 *   through two 64-bit objects made from decimal text, and copies the records twice to drop
 *   what is seldom there: now in numbers, copying only when something is dropped
 *   ({@link batchInNumbers}).
 *
 * A fix to how it fails: when no broker answers a request made through its broker pool (one
 * broker, timing out under load), kafkajs resolves null instead of failing, and its callers throw
 * a TypeError nobody retries ({@link failingWithBroker}). And a fix to a race: asked for the
 * offsets of a topic its cached metadata lost to a concurrent refresh, it answers nothing, and
 * its admin throws a TypeError ({@link offsetsOfKnownTopics}).
 * A fix to its idle cost: each connection's request queue ran a 1 ms timer for as long as it
 * was open ({@link installCheckingOnlyWhatIsHeldBack}). And one to its offset commits after the group's
 * coordinator moved ({@link rediscoveringCoordinator}). And one to its start-up on a cluster of
 * many topics: a client with no topics of its own refreshed the metadata of every topic in the
 * cluster ({@link refreshingNoTopics}). And one to its transactions' round trips: it asked where a
 * transactional id's coordinator is before each AddPartitionsToTxn and EndTxn, two of a
 * transaction's five round trips ({@link rememberingTransactionCoordinators}).
 *
 * And one addition: a consumer can join its group as the member a previous run of the same
 * instance was ({@link startNextConsumer}), so that a restart after SIGKILL does not wait for the dead
 * member's session to expire (KIP-345's static membership does that in the Java client; kafkajs
 * has none).
 *
 * The replacements live beside this file (kafkajs-records.ts, kafkajs-produce.ts,
 * kafkajs-consumer-group.ts, kafkajs-cluster.ts) and write and read the same bytes as kafkajs
 * (see their specs). This file installs them in the module cache before kafkajs loads
 * those files, so it is imported before kafkajs.
 */
import Module from 'node:module';
import { crc32c } from '@node-rs/crc32';
import {
  type FetchTopicsOffset,
  type FindGroupCoordinator,
  type KafkaMetadataDefinition,
  type KafkaOffsetManager,
  type RefreshMetadata,
  type WithBroker,
  askingForNoTopics,
  failingWithBroker,
  installCheckingOnlyWhatIsHeldBack,
  offsetsOfKnownTopics,
  rediscoveringCoordinator,
  refreshingNoTopics,
  rememberingTransactionCoordinators,
} from './kafkajs-cluster.js';
import { type KafkaConsumerGroupClass, rejoiningConsumerGroup } from './kafkajs-consumer-group.js';
import { type KafkaEncoderClass, type VarLongEncoderClass, groupMessagesPerPartition, produceRequest, recordEncoder, requestFraming } from './kafkajs-produce.js';
import { type KafkaDecoderClass, type KafkaLong, type RecordBatchDecoderDeps, batchInNumbers, recordBatchDecoder, recordDecoder } from './kafkajs-records.js';

/** The kafkajs release whose internals the replacements below stand in for. */
const PATCHED_VERSION = '2.2.4';

/** The modules replaced, by path, with what they export now. */
const installed = new Map<string, unknown>();

function install(path: string, exports: unknown): void {
  if (require.cache[path]) return;
  const patched = new Module(path);
  patched.filename = path;
  patched.loaded = true;
  patched.exports = exports;
  require.cache[path] = patched;
  installed.set(path, exports);
}

const commonJs = typeof require === 'function' && typeof module === 'object';

/**
 * Throws unless the replacements are the modules kafkajs runs with: they are installed only if
 * this module loads before kafkajs does (every file of the core that imports kafkajs imports
 * this one first). Only where modules are CommonJS (the built service); elsewhere (jest's ESM
 * mode) kafkajs stays as it is, which changes its speed, not its results.
 */
export function checkPatchesInstalled(): void {
  if (!commonJs) return;
  const missing = [...installed].filter(([path, exports]) => require.cache[path]?.exports !== exports);
  if (installed.size < 8 || missing.length > 0) {
    throw new Error('kafkajs was loaded before src/streams/kafkajs-patches.ts, which could not replace its internals: import the patches first wherever kafkajs is imported');
  }
}

if (commonJs) {
  // The replacements stand in for internal files of one release: refuse any other, loudly.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's package.json, CommonJS only
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== PATCHED_VERSION) {
    throw new Error(`kafkajs ${version} is installed; src/streams/kafkajs-patches.ts replaces internals of kafkajs ${PATCHED_VERSION} exactly: check them against ${version} first`);
  }
  install(require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js'), groupMessagesPerPartition);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's internal encoder, CommonJS only
  const encoder = require('kafkajs/src/protocol/encoder.js') as KafkaEncoderClass & VarLongEncoderClass;
  install(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js'), recordEncoder(encoder));
  install(require.resolve('kafkajs/src/protocol/request.js'), requestFraming(encoder));
  // Loaded first (it falls back to itself for compressed records), then its exports swapped
  // before the versions that reuse it (v4 to v7) load it.
  const produceV3Path = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
  if (!require.cache[produceV3Path]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's produce request, CommonJS only
    const original = require(produceV3Path) as Parameters<typeof produceRequest>[0];
    // A record batch's CRC-32C computed natively (SSE 4.2 where the CPU has it): kafkajs's own reads
    // a byte per step in JavaScript, ~2.5 % of a processor thread in B2 (docs/streams.md).
    require.cache[produceV3Path]!.exports = produceRequest(original, encoder, crc32c);
    installed.set(produceV3Path, require.cache[produceV3Path]!.exports);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's 64-bit integers, CommonJS only
  const long = require('kafkajs/src/utils/long.js') as KafkaLong;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's protocol decoder, CommonJS only
  const decoder = require('kafkajs/src/protocol/decoder.js') as KafkaDecoderClass;
  const decodeRecord = recordDecoder(long, decoder);
  install(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js'), decodeRecord);
  install(
    require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js'),
    recordBatchDecoder({
      Decoder: decoder as unknown as RecordBatchDecoderDeps['Decoder'],
      decodeRecord,
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's compression codecs, CommonJS only
      lookupCodecByAttributes: (require('kafkajs/src/protocol/message/compression/index.js') as Pick<RecordBatchDecoderDeps, 'lookupCodecByAttributes'>).lookupCodecByAttributes,
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's errors, CommonJS only
      PartialMessageError: (require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: RecordBatchDecoderDeps['PartialMessageError'] }).KafkaJSPartialMessageError,
    }),
  );
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's broker pool, CommonJS only
  const { prototype: brokerPool } = require('kafkajs/src/cluster/brokerPool.js') as { prototype: { withBroker: WithBroker; refreshMetadata: RefreshMetadata } };
  brokerPool.withBroker = failingWithBroker(brokerPool.withBroker);
  brokerPool.refreshMetadata = refreshingNoTopics(brokerPool.refreshMetadata);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's Metadata request, CommonJS only
  askingForNoTopics(require('kafkajs/src/protocol/requests/metadata/index.js') as KafkaMetadataDefinition);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's cluster, CommonJS only
  const { prototype: cluster } = require('kafkajs/src/cluster/index.js') as { prototype: { fetchTopicsOffset: FetchTopicsOffset; findGroupCoordinator: FindGroupCoordinator } };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's protocol errors, CommonJS only
  const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };
  const UNKNOWN_TOPIC_OR_PARTITION = 3;
  cluster.fetchTopicsOffset = offsetsOfKnownTopics(cluster.fetchTopicsOffset, () => createErrorFromCode(UNKNOWN_TOPIC_OR_PARTITION));
  cluster.findGroupCoordinator = rememberingTransactionCoordinators(cluster.findGroupCoordinator);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's offset manager, CommonJS only
  rediscoveringCoordinator((require('kafkajs/src/consumer/offsetManager/index.js') as { prototype: KafkaOffsetManager }).prototype);
  installCheckingOnlyWhatIsHeldBack();
  // Subclassed, as the consumer group below: loaded first, then its exports swapped before the
  // consumer group and the changelog readers load it.
  const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
  if (!require.cache[require.resolve('kafkajs/src/consumer/consumerGroup.js')]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's fetch batch, CommonJS only
    const batch = require(batchPath) as Parameters<typeof batchInNumbers>[0];
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's filter of aborted records, CommonJS only
    const filterAbortedMessages = require('kafkajs/src/consumer/filterAbortedMessages.js') as Parameters<typeof batchInNumbers>[2];
    require.cache[batchPath]!.exports = batchInNumbers(batch, long, filterAbortedMessages);
    installed.set(batchPath, require.cache[batchPath]!.exports);
  }
  // Subclassed rather than replaced: loaded first, then its exports swapped before the consumer loads it.
  const consumerGroupPath = require.resolve('kafkajs/src/consumer/consumerGroup.js');
  if (!require.cache[require.resolve('kafkajs/src/consumer/index.js')]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's consumer group, CommonJS only
    const consumerGroup = require(consumerGroupPath) as KafkaConsumerGroupClass;
    require.cache[consumerGroupPath]!.exports = rejoiningConsumerGroup(consumerGroup);
    installed.set(consumerGroupPath, require.cache[consumerGroupPath]!.exports);
  }
}

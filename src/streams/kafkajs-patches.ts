/**
 * Four fixes to kafkajs 2.2.4, its last release, found by profiling the processors (B2):
 *
 * - its producer groups a send's messages by partition by copying the partition's array for
 *   every message (`[...current, message]`): O(n²) in the messages of a partition, 9 % of the
 *   CPU on batches of thousands;
 * - it encodes each record, and each header, into a fresh zero-filled 512-byte buffer before
 *   copying it into the batch, and each varint of it through an array, a buffer and 64-bit
 *   objects of its own: most of the garbage the processors made;
 * - it copies a produce request's bytes about seven times on their way into the request, through
 *   encoders that start small and double, and copies each message into an object of its own:
 *   the request is now written once, in one buffer ({@link produceRequest}, kafkajs-produce.ts);
 * - it decodes every field of every fetched record as the fetch arrives (two Buffers, two
 *   decimal strings made through 64-bit objects, one allocation per varint byte, and a headers
 *   object), and they live until the record's batch is committed: the records are now read on
 *   access ({@link recordDecoder}).
 *
 * A fix to how it fails: when no broker answers a request made through its broker pool (one
 * broker, timing out under load), kafkajs resolves null instead of failing, and its callers throw
 * a TypeError nobody retries ({@link failingWithBroker}). And a fix to a race: asked for the
 * offsets of a topic its cached metadata lost to a concurrent refresh, it answers nothing, and
 * its admin throws a TypeError ({@link offsetsOfKnownTopics}).
 * A fix to its idle cost: each connection's request queue ran a 1 ms timer for as long as it
 * was open ({@link checkingOnlyWhatIsHeldBack}). And one to its offset commits after the group's
 * coordinator moved ({@link rediscoveringCoordinator}). And one to its start-up on a cluster of
 * many topics: a client with no topics of its own refreshed the metadata of every topic in the
 * cluster ({@link refreshingNoTopics}).
 *
 * And one addition: a consumer can join its group as the member a previous run of the same
 * instance was ({@link joinAs}), so that a restart after SIGKILL does not wait for the dead
 * member's session to expire (KIP-345's static membership does that in the Java client; kafkajs
 * has none).
 *
 * The replacements write and read the same bytes (see kafkajs-patches.spec.ts). They are installed in
 * the module cache before kafkajs loads those files, so this module is imported before kafkajs.
 */
import Module from 'node:module';
import { type Bytes, type KafkaEncoderClass, asBytes, produceRequest, requestFraming, sizeOfBytes, sizeOfUnsignedVarInt, writeBytes, writeUnsignedVarInt, zigzag } from './kafkajs-produce.js';

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, unknown[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

interface VarLongEncoder {
  readonly buffer: Buffer;
  writeVarLong(value: unknown): VarLongEncoder;
}
type VarLongEncoderClass = new (initialSize?: number) => VarLongEncoder;

/** What kafkajs's record batch encoder takes of a record's encoder: its bytes. */
interface EncodedRecord {
  readonly buf: Buffer;
  readonly buffer: Buffer;
}

/** kafkajs's record v0 encoder, writing straight into one buffer of the record's size. */
export function recordEncoder(Encoder: VarLongEncoderClass) {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: {
    offsetDelta?: number;
    timestampDelta?: number | object;
    key: unknown;
    value: unknown;
    headers?: Record<string, unknown>;
  }): EncodedRecord => {
    const headerList: Array<{ key: string; value: Bytes }> = [];
    for (const name of Object.keys(headers)) {
      const given = headers[name];
      if (Array.isArray(given)) for (const one of given) headerList.push({ key: name, value: asBytes(one) });
      else headerList.push({ key: name, value: asBytes(given) });
    }
    const keyBytes = asBytes(key);
    const valueBytes = asBytes(value);
    // The producer's time delta is a number; kafkajs also takes one of its 64-bit objects.
    const timeDelta = typeof timestampDelta === 'number' && Number.isSafeInteger(timestampDelta) ? zigzag(timestampDelta) : new Encoder(10).writeVarLong(timestampDelta).buffer;
    const timeDeltaSize = typeof timeDelta === 'number' ? sizeOfUnsignedVarInt(timeDelta) : timeDelta.length;
    let sizeOfBody = 1 + timeDeltaSize + sizeOfUnsignedVarInt(zigzag(offsetDelta)) + sizeOfBytes(keyBytes) + sizeOfBytes(valueBytes);
    sizeOfBody += sizeOfUnsignedVarInt(zigzag(headerList.length));
    for (const header of headerList) sizeOfBody += sizeOfBytes(header.key) + sizeOfBytes(header.value);

    const buffer = Buffer.allocUnsafe(sizeOfUnsignedVarInt(zigzag(sizeOfBody)) + sizeOfBody);
    let at = writeUnsignedVarInt(buffer, 0, zigzag(sizeOfBody));
    buffer[at++] = 0; // attributes
    at = typeof timeDelta === 'number' ? writeUnsignedVarInt(buffer, at, timeDelta) : at + timeDelta.copy(buffer, at);
    at = writeUnsignedVarInt(buffer, at, zigzag(offsetDelta));
    at = writeBytes(buffer, at, keyBytes);
    at = writeBytes(buffer, at, valueBytes);
    at = writeUnsignedVarInt(buffer, at, zigzag(headerList.length));
    for (const header of headerList) {
      at = writeBytes(buffer, at, header.key);
      at = writeBytes(buffer, at, header.value);
    }
    return { buf: buffer, buffer };
  };
}

interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): object;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}

/** What kafkajs's record batch decoder hands each record's decoder. */
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

const LOG_APPEND_TIME = 1;

/**
 * A zigzag varlong as a number, or undefined past 7 bytes (49 bits), where the caller falls back
 * to kafkajs's 64-bit reader from the same position.
 */
function readSmallVarLong(decoder: KafkaDecoder): number | undefined {
  const { buffer } = decoder;
  let at = decoder.offset;
  let result = 0;
  let factor = 1;
  for (let index = 0; index < 7; index++) {
    const byte = buffer[at++];
    result += (byte & 0x7f) * factor;
    if (byte < 0x80) {
      decoder.offset = at;
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    }
    factor *= 128;
  }
  return undefined;
}

interface KafkaLong {
  fromValue(value: string): { add(other: unknown): { toString(): string } };
  fromNumber(value: number): unknown;
}

/** `base` + `delta` as kafkajs writes it (decimal text), in numbers while they are exact. */
function addToText(base: string, delta: number | object, Long: KafkaLong): string {
  if (delta === 0) return base;
  if (typeof delta === 'number') {
    const sum = Number(base) + delta;
    if (Number.isSafeInteger(sum) && Number.isSafeInteger(Number(base))) return String(sum);
  }
  return Long.fromValue(base)
    .add(typeof delta === 'number' ? Long.fromNumber(delta) : delta)
    .toString();
}

type Headers = Record<string, Buffer | null | Array<Buffer | null>>;
type KafkaDecoderClass = new (buffer: Buffer) => KafkaDecoder;

/**
 * kafkajs's record v0 decoder, reading a record's fields only when they are asked for. kafkajs
 * decodes a whole fetch before the first batch of it runs, and each record lives until its batch
 * is processed and committed: with two Buffers, two decimal strings and a headers object per
 * record, that was most of what the young generation's collections copied and promoted. A
 * fetched record is now one object over the record's bytes; `key`, `value`, `headers`, `offset`
 * and `timestamp` are read from them on each access (the same values kafkajs reads).
 */
export function recordDecoder(Long: KafkaLong, Decoder: KafkaDecoderClass) {
  class FetchedRecord {
    constructor(
      private readonly bytes: Buffer,
      readonly attributes: number,
      private readonly timestampDelta: number | object,
      private readonly offsetDelta: number,
      /** Where the key's length starts; the value's and the headers' follow it. */
      private readonly keyAt: number,
      readonly batchContext: BatchContext,
    ) {}

    get magicByte(): number | undefined {
      return this.batchContext.magicByte;
    }

    get isControlRecord(): boolean {
      return this.batchContext.isControlBatch ?? false;
    }

    get timestamp(): string {
      const { firstTimestamp, timestampType, maxTimestamp } = this.batchContext;
      return timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : addToText(firstTimestamp, this.timestampDelta, Long);
    }

    get offset(): string {
      return addToText(this.batchContext.firstOffset, this.offsetDelta, Long);
    }

    get key(): Buffer | null {
      return this.reader().readVarIntBytes();
    }

    get value(): Buffer | null {
      const decoder = this.reader();
      skipBytes(decoder);
      return decoder.readVarIntBytes();
    }

    get headers(): Headers {
      const decoder = this.reader();
      skipBytes(decoder);
      skipBytes(decoder);
      const headers: Headers = {};
      const headerCount = decoder.readVarInt();
      for (let index = 0; index < headerCount; index++) {
        const name = decoder.readVarIntString() as string;
        const headerValue = decoder.readVarIntBytes();
        const before = headers[name];
        if (before === undefined) headers[name] = headerValue;
        else headers[name] = Array.isArray(before) ? [...before, headerValue] : [before, headerValue];
      }
      return headers;
    }

    private reader(): KafkaDecoder {
      const decoder = new Decoder(this.bytes);
      decoder.offset = this.keyAt;
      return decoder;
    }
  }

  return (decoder: KafkaDecoder, batchContext: BatchContext) => {
    const attributes = decoder.readInt8();
    const timestampDelta = readSmallVarLong(decoder) ?? decoder.readVarLong();
    const offsetDelta = decoder.readVarInt();
    return new FetchedRecord(decoder.buffer, attributes, timestampDelta, offsetDelta, decoder.offset, batchContext);
  };
}

/** Moves past a varint-length-prefixed field as kafkajs's `readVarIntBytes` would read it. */
function skipBytes(decoder: KafkaDecoder): void {
  const length = decoder.readVarInt();
  if (length !== -1) decoder.offset += length;
}

interface KafkaConsumerGroup {
  groupId: string;
  memberId: string | null;
  /** What the broker waits for before it answers a fetch (or for maxWaitTime). */
  minBytes: number;
  joinAndSync(): Promise<void>;
  fetch(nodeId: string): Promise<Array<{ isEmpty(): boolean }>>;
}
type KafkaConsumerGroupClass = new (options: { groupId: string; minBytes?: number }) => KafkaConsumerGroup;

/** Member ids to join as, by group id: each taken by the next consumer of that group made in this thread. */
const rejoining = new Map<string, string>();

/**
 * Makes the next consumer of `groupId` that this thread starts join as `memberId`, the member a
 * previous run of this instance was (kafkajs has no static membership). A member that died
 * without leaving (SIGKILL) keeps its partitions until its session expires; joining as it ends
 * that wait at once. An id the broker no longer knows costs one rejoin: kafkajs then joins anew.
 */
export function joinAs(groupId: string, memberId: string | undefined): void {
  if (memberId) rejoining.set(groupId, memberId);
  else rejoining.delete(groupId);
}

/**
 * Fetches in a row that must bring records before a broker's fetches wait for `minBytes`. One was
 * too few: records written by a few transactions just apart arrive over two fetches (a restart's
 * first deposits reaching the threshold group, its flags reaching the flagger a partition at a
 * time), and after the first of them the rest waited a whole commit interval. Under live load
 * every fetch brings records, so the second in a row already waits.
 */
const STEADY_AFTER = 2;

/**
 * kafkajs's consumer group, starting with the member id {@link joinAs} left for its group.
 *
 * And while the group is idle (from a join, or until a broker's last {@link STEADY_AFTER} fetches
 * have all brought records), the broker answers the next fetch as soon as it has any record: what
 * was written while the group was away or moving (a restart, a rebalance), or the first deposit
 * after a quiet spell, is processed at once, instead of after waiting the commit interval for
 * `minBytes` that a few records never reach. Once a broker's fetches keep bringing records, every
 * fetch waits for `minBytes`, so that a batch under live load covers the commit interval. kafkajs
 * fetches from each broker on its own, so a quiet broker does not make the busy one's fetches small.
 */
export function rejoiningConsumerGroup(ConsumerGroup: KafkaConsumerGroupClass): KafkaConsumerGroupClass {
  return class RejoiningConsumerGroup extends ConsumerGroup {
    /** By broker, how many fetches in a row have brought records. */
    private readonly streaks = new Map<string, number>();
    /** The brokers whose streak has reached STEADY_AFTER. */
    private steadyBrokers = 0;

    constructor(options: { groupId: string; minBytes?: number }) {
      super(options);
      const memberId = rejoining.get(this.groupId);
      rejoining.delete(this.groupId);
      if (memberId) this.memberId = memberId;
      // kafkajs reads minBytes when it sends a fetch, after awaits of its own: as a property
      // here, every fetch sees the phase the group is in when it is sent.
      let steady = this.minBytes;
      Object.defineProperty(this, 'minBytes', {
        get: () => (this.steadyBrokers === 0 ? 1 : steady),
        set: (value: number) => (steady = value),
      });
    }

    override joinAndSync(): Promise<void> {
      this.streaks.clear();
      this.steadyBrokers = 0;
      return super.joinAndSync();
    }

    override async fetch(nodeId: string): Promise<Array<{ isEmpty(): boolean }>> {
      let brought = false;
      try {
        const batches = await super.fetch(nodeId);
        brought = batches.some((batch) => !batch.isEmpty());
        return batches;
      } finally {
        const before = this.streaks.get(nodeId) ?? 0;
        const after = brought ? before + 1 : 0;
        this.streaks.set(nodeId, after);
        if (before < STEADY_AFTER && after >= STEADY_AFTER) this.steadyBrokers++;
        else if (before >= STEADY_AFTER && after < STEADY_AFTER) this.steadyBrokers--;
      }
    }
  };
}

/** The part of kafkajs's offset manager (one per group join) that finds where to commit. */
export interface KafkaOffsetManager {
  groupId: string;
  coordinator: { isConnected(): boolean };
  cluster: { findGroupCoordinator(options: { groupId: string }): Promise<{ isConnected(): boolean }> };
  getCoordinator(): Promise<unknown>;
  commitOffsets(offsets?: unknown): Promise<void>;
}

/** Coordinators an offset manager must not ask again: the group has moved away from them. */
const movedAway = new WeakMap<KafkaOffsetManager, unknown>();
/** Kafka's answers that the group's coordinator is now another broker, or none yet. */
const COORDINATOR_MOVED = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE']);

/**
 * Makes kafkajs's offset manager ask the cluster where the group's coordinator is now, after the
 * coordinator it knows said the group moved or its connection was lost. kafkajs keeps the
 * coordinator of the last join: after a NOT_COORDINATOR it refreshes the metadata but commits to
 * the same broker again, and once the connection is lost it reconnects to the same broker, so a
 * group whose coordinator moved (its broker stopped) failed every commit until something else made
 * it rejoin (kafkajs PR 1779, not released). The likely cause of a stall on the 3-broker cluster
 * test: the flagger, still a member, had processed every record and committed no offset minutes
 * later, so its lag never returned to 0.
 */
export function rediscoveringCoordinator(manager: Pick<KafkaOffsetManager, 'getCoordinator' | 'commitOffsets'>): void {
  const commitOffsets = manager.commitOffsets;
  manager.getCoordinator = async function (this: KafkaOffsetManager) {
    if (movedAway.get(this) === this.coordinator || !this.coordinator.isConnected()) {
      this.coordinator = await this.cluster.findGroupCoordinator({ groupId: this.groupId });
      movedAway.delete(this);
    }
    return this.coordinator;
  };
  manager.commitOffsets = async function (this: KafkaOffsetManager, offsets?: unknown) {
    try {
      await commitOffsets.call(this, offsets);
    } catch (error) {
      if (COORDINATOR_MOVED.has((error as { type?: string }).type ?? '')) movedAway.set(this, this.coordinator);
      throw error;
    }
  };
}

/** The part of kafkajs's request queue (one per connection) that holds requests back. */
export interface KafkaRequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs's pause between checks of requests held back by the in-flight limit (CHECK_PENDING_REQUESTS_INTERVAL). */
const CHECK_PENDING_MS = 10;

/**
 * Makes kafkajs's request queue set a timer only while it holds requests back (a broker's
 * throttle, the in-flight limit). kafkajs 2.2.4 sets one after every check, whether anything is
 * held back or not, with a negative delay when nothing is throttled: every connection that ever
 * had an answer ran a 1 ms timer for as long as it stayed open (kafkajs issues 1556 and 1704, PR
 * 1667, not released). With the service's ~36 connections, each JavaScript thread woke ~850 times
 * a second doing nothing: an idle service took ~15 % of a core, ~10 % without it.
 */
export function checkingOnlyWhatIsHeldBack(queue: Pick<KafkaRequestQueue, 'scheduleCheckPendingRequests'>): void {
  queue.scheduleCheckPendingRequests = function (this: KafkaRequestQueue) {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_MS,
    );
  };
}

/** What kafkajs's broker pool hands a request to make. */
export interface PoolBroker {
  nodeId: string;
  broker: unknown;
}

type WithBroker = (this: unknown, callback: (args: PoolBroker) => Promise<unknown>) => Promise<unknown>;

/**
 * kafkajs's `BrokerPool.withBroker`, failing when no broker answered. kafkajs asks each broker in
 * turn and, when every one fails, resolves null: with one broker, a metadata request timed out on
 * a loaded machine is enough. Its callers then throw a TypeError ("Cannot read properties of null
 * (reading 'topicMetadata')") that neither kafkajs nor the core retries, and the service failed
 * to start. This throws the last broker's error instead, which both retry when it is transient.
 */
export function failingWithBroker(withBroker: WithBroker): WithBroker {
  return async function (this: unknown, callback) {
    let lastError: unknown;
    let answered = false;
    const result = await withBroker.call(this, async (args) => {
      try {
        const value = await callback(args);
        answered = true;
        return value;
      } catch (error) {
        lastError = error;
        throw error;
      }
    });
    if (!answered && lastError !== undefined) throw lastError;
    return result;
  };
}

type FetchTopicsOffset = (this: { findTopicPartitionMetadata(topic: string): unknown[] }, topics: Array<{ topic: string }>) => Promise<unknown>;

/**
 * kafkajs's `Cluster.fetchTopicsOffset`, failing with Kafka's UNKNOWN_TOPIC_OR_PARTITION (a
 * retriable error) when the cluster's metadata holds no partition of a topic it is asked about.
 *
 * kafkajs's metadata cache is not safe under concurrent use: the views and partitions of a
 * process share one admin client, and on a cluster a refresh begun for fewer topics can land
 * after the one that added a topic. kafkajs then asked no broker and answered nothing, and
 * `admin.fetchTopicOffsets` threw "Cannot destructure property 'partitions' of 'high.pop(...)'"
 * (a start-up failed so on the 3-broker cluster test). On UNKNOWN_TOPIC_OR_PARTITION the admin
 * refreshes the metadata and tries again by itself.
 */
export function offsetsOfKnownTopics(fetchTopicsOffset: FetchTopicsOffset, unknownTopic: () => Error): FetchTopicsOffset {
  return async function (this, topics) {
    if (topics.some(({ topic }) => this.findTopicPartitionMetadata(topic).length === 0)) throw unknownTopic();
    return fetchTopicsOffset.call(this, topics);
  };
}

/**
 * The topics a client's metadata refresh asks for when it has none of its own to ask about: none.
 * An array of its own, so that the request it reaches can tell it from a list that happens to be
 * empty (kafkajs's shuffle hands an array of fewer than two back as it is).
 */
export const NO_TOPICS: readonly string[] = Object.freeze([]);

type RefreshMetadata = (this: unknown, topics: readonly string[]) => Promise<unknown>;

/**
 * kafkajs's `BrokerPool.refreshMetadata`, asking for {@link NO_TOPICS} when the client has no
 * topics of its own yet. kafkajs writes an empty topic list as a null one, which Kafka answers
 * with every topic of the cluster: each transactional producer, connecting, and each admin call
 * that refreshes (describing configs, creating topics) fetched and decoded the metadata of all of
 * them, 19 times on every start of the processor thread (with 690 topics on the broker, 50–150 ms
 * each). What a client without topics needs of the metadata is the brokers and the controller,
 * which every answer carries. A client listing the topics (`admin.listTopics`) asks the broker
 * itself, not through this refresh, and still gets them all.
 */
export function refreshingNoTopics(refreshMetadata: RefreshMetadata): RefreshMetadata {
  return function (this: unknown, topics) {
    return refreshMetadata.call(this, topics.length === 0 ? NO_TOPICS : topics);
  };
}

/** kafkajs's Metadata request definition: `protocol({ version })` makes the request of that version. */
export interface KafkaMetadataDefinition {
  protocol(args: { version: number | string }): (args: { topics: readonly string[]; allowAutoTopicCreation?: boolean }) => {
    request: { apiVersion: number; encode(): Promise<{ buffer: Buffer }> };
    response: unknown;
  };
}

/**
 * Makes kafkajs's Metadata requests of {@link NO_TOPICS} ask for no topic: an empty topic list,
 * where kafkajs writes a null one (every topic). From version 1 on, Kafka tells the two apart; in
 * version 0 an empty list meant every topic too, and is left so. The list is the first field of
 * every version: its length is written again, 0 for -1.
 */
export function askingForNoTopics(definition: KafkaMetadataDefinition): void {
  const { protocol } = definition;
  definition.protocol = ({ version }) => {
    const make = protocol({ version });
    if (Number(version) < 1) return make;
    return (args) => {
      const made = make(args);
      if (args.topics !== NO_TOPICS) return made;
      const { encode } = made.request;
      const encodeNone = async () => {
        const encoder = await encode.call(made.request);
        if (encoder.buffer.readInt32BE(0) === NULL_ARRAY) encoder.buffer.writeInt32BE(0, 0);
        return encoder;
      };
      return { ...made, request: { ...made.request, encode: encodeNone } };
    };
  };
}

const NULL_ARRAY = -1;

/** The kafkajs release whose internals the replacements below stand in for. */
export const PATCHED_VERSION = '2.2.4';

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
  if (installed.size < 6 || missing.length > 0) {
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
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's produce request and CRC, CommonJS only
    const original = require(produceV3Path) as Parameters<typeof produceRequest>[0];
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's CRC-32C, CommonJS only
    const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (bytes: Buffer) => number;
    require.cache[produceV3Path]!.exports = produceRequest(original, encoder, crc32C);
    installed.set(produceV3Path, require.cache[produceV3Path]!.exports);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's 64-bit integers, CommonJS only
  const long = require('kafkajs/src/utils/long.js') as KafkaLong;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's protocol decoder, CommonJS only
  const decoder = require('kafkajs/src/protocol/decoder.js') as KafkaDecoderClass;
  install(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js'), recordDecoder(long, decoder));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's broker pool, CommonJS only
  const { prototype: brokerPool } = require('kafkajs/src/cluster/brokerPool.js') as { prototype: { withBroker: WithBroker; refreshMetadata: RefreshMetadata } };
  brokerPool.withBroker = failingWithBroker(brokerPool.withBroker);
  brokerPool.refreshMetadata = refreshingNoTopics(brokerPool.refreshMetadata);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's Metadata request, CommonJS only
  askingForNoTopics(require('kafkajs/src/protocol/requests/metadata/index.js') as KafkaMetadataDefinition);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's cluster, CommonJS only
  const { prototype: cluster } = require('kafkajs/src/cluster/index.js') as { prototype: { fetchTopicsOffset: FetchTopicsOffset } };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's protocol errors, CommonJS only
  const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };
  const UNKNOWN_TOPIC_OR_PARTITION = 3;
  cluster.fetchTopicsOffset = offsetsOfKnownTopics(cluster.fetchTopicsOffset, () => createErrorFromCode(UNKNOWN_TOPIC_OR_PARTITION));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's offset manager, CommonJS only
  rediscoveringCoordinator((require('kafkajs/src/consumer/offsetManager/index.js') as { prototype: KafkaOffsetManager }).prototype);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's request queue, CommonJS only
  checkingOnlyWhatIsHeldBack((require('kafkajs/src/network/requestQueue/index.js') as { prototype: KafkaRequestQueue }).prototype);
  // Subclassed rather than replaced: loaded first, then its exports swapped before the consumer loads it.
  const consumerGroupPath = require.resolve('kafkajs/src/consumer/consumerGroup.js');
  if (!require.cache[require.resolve('kafkajs/src/consumer/index.js')]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's consumer group, CommonJS only
    const consumerGroup = require(consumerGroupPath) as KafkaConsumerGroupClass;
    require.cache[consumerGroupPath]!.exports = rejoiningConsumerGroup(consumerGroup);
    installed.set(consumerGroupPath, require.cache[consumerGroupPath]!.exports);
  }
}

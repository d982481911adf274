/**
 * kafkajs's cluster, as the patches install it (kafkajs-patches.ts): offset commits that find a
 * moved coordinator, request queues without an idle timer, a broker pool that fails rather than
 * resolving null, offsets of topics the metadata lost, and no metadata of every topic for a
 * client that has none of its own.
 */
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

/** Installs {@link checkingOnlyWhatIsHeldBack} on kafkajs's request queue; CommonJS only. */
export function installCheckingOnlyWhatIsHeldBack(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's request queue, CommonJS only
  checkingOnlyWhatIsHeldBack((require('kafkajs/src/network/requestQueue/index.js') as { prototype: KafkaRequestQueue }).prototype);
}

/** What kafkajs's broker pool hands a request to make. */
export interface PoolBroker {
  nodeId: string;
  broker: unknown;
}

export type WithBroker = (this: unknown, callback: (args: PoolBroker) => Promise<unknown>) => Promise<unknown>;

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

export type FetchTopicsOffset = (this: { findTopicPartitionMetadata(topic: string): unknown[] }, topics: Array<{ topic: string }>) => Promise<unknown>;

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

export type RefreshMetadata = (this: unknown, topics: readonly string[]) => Promise<unknown>;

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

/** A coordinator broker as kafkajs's cluster finds it: what the remembering below needs of it. */
interface CoordinatorBroker {
  isConnected(): boolean;
}

export type FindGroupCoordinator = (this: object, request: { groupId: string; coordinatorType?: number }) => Promise<CoordinatorBroker>;

/** Kafka's FindCoordinator key type of a transactional id (0 is a consumer group's). */
const TRANSACTION_COORDINATOR = 1;
/** The requests a transaction sends its coordinator (kafkajs's transaction manager, and fencing). */
const TRANSACTION_REQUESTS = new Set(['initProducerId', 'addPartitionsToTxn', 'addOffsetsToTxn', 'endTxn']);

/**
 * kafkajs's `Cluster.findGroupCoordinator`, remembering each transactional id's coordinator.
 * kafkajs asks a broker where it is (FindCoordinator) before every AddPartitionsToTxn and EndTxn:
 * two of the five round trips of each transaction a task commits, on the path from a deposit to
 * its commit. It is asked again once the connection to it is lost or any request to it fails
 * (the coordinator moved, its broker stopped, the id was fenced). A consumer group's coordinator
 * is left to kafkajs, which keeps it per join.
 */
export function rememberingTransactionCoordinators(find: FindGroupCoordinator): FindGroupCoordinator {
  const known = new WeakMap<object, Map<string, CoordinatorBroker>>();
  return async function (this: object, request) {
    if (request.coordinatorType !== TRANSACTION_COORDINATOR) return find.call(this, request);
    let byId = known.get(this);
    if (!byId) known.set(this, (byId = new Map()));
    const remembered = byId.get(request.groupId);
    if (remembered?.isConnected()) return remembered;
    const coordinator = forgettingOnFailure(await find.call(this, request), () => {
      if (byId.get(request.groupId) === coordinator) byId.delete(request.groupId);
    });
    byId.set(request.groupId, coordinator);
    return coordinator;
  };
}

/** `broker`, with `forget` called when one of its transaction requests fails. */
function forgettingOnFailure<T extends CoordinatorBroker>(broker: T, forget: () => void): T {
  return new Proxy(broker, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof property !== 'string' || !TRANSACTION_REQUESTS.has(property)) return value.bind(target) as unknown;
      return (...args: unknown[]) =>
        (value.apply(target, args) as Promise<unknown>).catch((error: unknown) => {
          forget();
          throw error;
        });
    },
  });
}

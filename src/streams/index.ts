/**
 * The streams core: Goka's model (processor groups with key-scoped contexts and tables backed
 * by changelogs, views, emitters, a tester) on Kafka and LevelDB, for NestJS. Domain-free.
 * See docs/streams.md for a complete example and the path of a record.
 */
import './kafkajs-patches.js';
export { type Codec, protobufCodec } from './codec.js';
export { type ProcessorContext, type StoreAccess, PoisonRecordError } from './context.js';
export { type Delivery, EmitError, Emitter } from './emitter.js';
export { type GroupDefinition, GroupHandler, type GroupHandlerExtras, defineGroup } from './group.js';
export { type GroupSource, RemoteGroups, type ThreadPort, serveGroups } from './group-port.js';
export type { AppliedOffsets } from './state-store.js';
export type { KafkaConnection } from './kafka-client.js';
export { type LatencyCounts, LatencyTally, RECORD_LATENCY_BOUNDS } from './latency-tally.js';
export type { GroupStatus } from './processor-group.js';
export type { PartitionStatus } from './task-manager.js';
export { partitionFor } from './murmur2.js';
export { NotStartedError } from './not-started.js';
export { StoreInUseError } from './state-store.js';
export { STREAMS_OPTIONS, type StreamsHealth, type StreamsOptions, StreamsRuntime, type TableLookup } from './streams-runtime.js';
export { InjectView, StreamsModule } from './streams.module.js';
export { TopicMismatchError } from './topic-admin.js';
export { type StreamTopic, type TableTopic, type Topic, type ValueOf, deadLetterTopicName, streamTopic, tableTopic } from './topics.js';
export { StreamsServer, startStreams } from './transport.js';
export { View, type ViewChange, type ViewEntry, type ViewStatus, ViewTimeoutError } from './view.js';

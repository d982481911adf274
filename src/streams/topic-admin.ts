// Before kafkajs: see kafkajs-patches.ts.
import './kafkajs-patches.js';
import { Logger } from '@nestjs/common';
import { type Admin, ConfigResourceTypes, type ITopicConfig } from 'kafkajs';
import { type GroupDefinition, groupChangelogs } from './group.js';
import { type KafkaConnection, physicalName } from './kafka-client.js';
import { causeType, isTransient, retryTransient } from './retry.js';
import { type Topic, deadLetterTopicName } from './topics.js';

/** Start-up must stop: the topics in Kafka are not what the service needs. */
export class TopicMismatchError extends Error {
  override readonly name = 'TopicMismatchError';
}

/** What one process needs to exist: its groups, the tables it views, the topics it emits to. */
export interface TopicNeeds {
  groups: readonly GroupDefinition[];
  topics: readonly Topic[];
}

interface Wanted {
  name: string;
  compacted: boolean;
  /** A changelog whose keys are overwritten, not written once: compaction reclaims most of it. */
  overwritten?: boolean;
  /** The topic whose partition count a missing one copies (a dead-letter topic copies its source). */
  like?: string;
}

/**
 * Creates the topics a process needs and checks the ones that exist: changelogs must be
 * compacted, within a group every input and changelog must have the same partition count
 * (co-partitioning), and a dead-letter topic at least its input's. A missing topic gets the count of its group's existing topics, or the
 * configured default. Throws {@link TopicMismatchError} naming topic, expected and found.
 */
export async function ensureTopics(admin: Admin, connection: KafkaConnection, needs: TopicNeeds): Promise<void> {
  const logger = new Logger('Topics');
  const name = (topic: Topic) => physicalName(connection, topic.name);
  const wanted = new Map<string, Wanted>();
  const want = (topic: Topic) =>
    wanted.set(name(topic), { name: name(topic), compacted: topic.kind === 'table', overwritten: topic.kind === 'table' && !topic.writeOnce });
  for (const topic of needs.topics) want(topic);
  for (const group of needs.groups) {
    for (const topic of [...group.inputs, ...groupChangelogs(group), ...(group.outputs ?? [])]) want(topic);
    for (const input of group.inputs) {
      const dlq = deadLetterTopicName(name(input));
      wanted.set(dlq, { name: dlq, compacted: false, like: name(input) });
    }
  }

  const existing = new Map<string, number>();
  const describe = async (names: string[]) => {
    if (names.length === 0) return;
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    for (const topic of topics) existing.set(topic.name, topic.partitions.length);
  };
  // Asked for by name, as on every start after the first, where all of them exist; the
  // cluster's whole topic list (metadata of every topic in it) only when one is missing.
  await retryTransient(async () => {
    try {
      await describe([...wanted.keys()]);
    } catch (error) {
      if (causeType(error) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
      const present = new Set(await admin.listTopics());
      await describe([...wanted.keys()].filter((topic) => present.has(topic)));
    }
  });

  // Groups first, so that their missing topics follow the counts of their existing ones.
  const toCreate = new Map<string, ITopicConfig>();
  // 'auto' counts the brokers, only when there are topics to create (otherwise the value is not
  // used): kafkajs asks for the metadata of every topic in the cluster to describe it.
  const creating = [...wanted.keys()].some((topic) => !existing.has(topic));
  const replicationFactor =
    connection.replicationFactor !== 'auto' ? connection.replicationFactor : creating ? Math.min(3, (await retryTransient(() => admin.describeCluster())).brokers.length) : 1;
  const minInsyncReplicas = connection.minInsyncReplicas ?? (replicationFactor >= 3 ? 2 : 1);
  const countFor = (topic: string, siblings: string[]) =>
    existing.get(topic) ?? siblings.map((sibling) => existing.get(sibling) ?? toCreate.get(sibling)?.numPartitions).find((n) => n !== undefined) ?? connection.partitions;
  const plan = (topic: Wanted, siblings: string[]) => {
    if (existing.has(topic.name) || toCreate.has(topic.name)) return;
    toCreate.set(topic.name, {
      topic: topic.name,
      numPartitions: countFor(topic.like ?? topic.name, topic.like ? [topic.like] : siblings),
      replicationFactor,
      configEntries: [
        { name: 'min.insync.replicas', value: String(minInsyncReplicas) },
        ...(topic.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
        // Only closed segments are compacted: the smaller they are, the less of a table's history a
        // cold restore reads (docs/streams.md). A history's keys are never overwritten: left as is.
        ...(topic.overwritten && connection.changelogSegmentBytes ? [{ name: 'segment.bytes', value: String(connection.changelogSegmentBytes) }] : []),
      ],
    });
  };
  for (const group of needs.groups) {
    const members = [...group.inputs, ...groupChangelogs(group)].map(name);
    for (const member of members) plan(wanted.get(member)!, members);
  }
  for (const topic of wanted.values()) plan(topic, []);

  if (toCreate.size > 0) {
    try {
      await admin.createTopics({ topics: [...toCreate.values()], waitForLeaders: true });
    } catch (error) {
      // Another instance may have created some at the same time, or a broker may not have
      // seen the new leaders yet (kafkajs's waitForLeaders then gives up): the checks below decide.
      if (!/already exists/i.test(String((error as Error).message)) && !isTransient(error)) throw error;
    }
    logger.log(
      `created ${[...toCreate.keys()].map((topic) => `${topic} (${toCreate.get(topic)!.numPartitions} partitions)`).join(', ')}` +
        ` with replication factor ${replicationFactor}, min.insync.replicas ${minInsyncReplicas}`,
    );
    // A new topic's leaders reach every broker's metadata a moment after creation: until
    // then, reading its offsets fails. Wait for that here rather than in every later step, for
    // every topic at once and asking again soon: a first start waits on this.
    await Promise.all([...toCreate.keys()].map((topic) => retryTransient(() => admin.fetchTopicOffsets(topic), 60, (attempt) => Math.min(25 * attempt, 1000))));
    await retryTransient(() => describe([...toCreate.keys()]));
  }

  for (const group of needs.groups) {
    const [first, ...rest] = [...group.inputs, ...groupChangelogs(group)].map(name);
    const expected = existing.get(first)!;
    for (const topic of rest) {
      const found = existing.get(topic)!;
      if (found !== expected) {
        throw new TopicMismatchError(
          `topic ${topic} has ${found} partitions, expected ${expected} like ${first}: group ${group.name} needs its inputs and tables co-partitioned`,
        );
      }
    }
  }

  // A dead letter goes to its record's partition: a dead-letter topic made by hand with fewer
  // partitions than its input would refuse it, and the partition would retry for ever.
  for (const topic of wanted.values()) {
    const found = existing.get(topic.name);
    const input = topic.like === undefined ? undefined : existing.get(topic.like);
    if (found !== undefined && input !== undefined && found < input) {
      throw new TopicMismatchError(`topic ${topic.name} has ${found} partitions, expected at least ${input} like ${topic.like}: a dead letter goes to the partition of its record`);
    }
  }

  const compacted = [...wanted.values()].filter((topic) => topic.compacted).map((topic) => topic.name);
  if (compacted.length > 0) {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: compacted.map((topic) => ({ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] })),
    });
    for (const resource of resources) {
      const policy = resource.configEntries.find((entry) => entry.configName === 'cleanup.policy')?.configValue ?? '';
      if (!policy.split(',').includes('compact')) {
        throw new TopicMismatchError(`topic ${resource.resourceName} has cleanup.policy=${policy}, expected compact: it is a changelog`);
      }
    }
  }
}

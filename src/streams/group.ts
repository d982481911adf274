import type { AnyStreamTopic, AnyTableTopic } from './topics.js';

/**
 * A processor group: a Kafka consumer group over `inputs`, whose handlers (the
 * `@EventPattern(topic, { group })` methods of the module's processor) keep the group
 * `table`, and possibly more `stores`, in local LevelDB stores backed by compacted changelogs.
 *
 * Every input and every changelog has the same number of partitions (checked at start-up):
 * partition p of each input is processed by one instance, against partition p of the state.
 */
export interface GroupDefinition {
  /** The consumer group id (with the configured prefix), and the name handlers refer to. */
  readonly name: string;
  /** The topics consumed; records are keyed, and a key always lands on the same partition. */
  readonly inputs: readonly AnyStreamTopic[];
  /** The group table: one value per record key, read and written through the context. */
  readonly table: AnyTableTopic;
  /**
   * Further stores of the group, for values under keys of the handler's choosing (an index,
   * a history). They live on the partition of the record that wrote them.
   */
  readonly stores?: readonly AnyTableTopic[];
  /** The topics handlers emit to (created at start-up like the others). */
  readonly outputs?: readonly AnyStreamTopic[];
}

/** Declares a processor group; see {@link GroupDefinition}. */
export function defineGroup<G extends GroupDefinition>(definition: G): G {
  const changelogs = [definition.table, ...(definition.stores ?? [])].map((table) => table.name);
  if (new Set(changelogs).size !== changelogs.length) {
    throw new Error(`group ${definition.name}: table and stores need distinct topics`);
  }
  if (definition.table.writeOnce) throw new Error(`group ${definition.name}: its table ${definition.table.name} is overwritten by key; only stores can be write-once`);
  if (definition.inputs.length === 0) throw new Error(`group ${definition.name}: no input topics`);
  return definition;
}

/** The `extras` of `@EventPattern(topic, { group })` that bind a handler to a group. */
export interface GroupHandlerExtras {
  group: string;
}

import type { Type } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import type { ProcessorContext } from './context.js';
import type { AnyStreamTopic, AnyTableTopic, StreamTopic, TableTopic } from './topics.js';

/**
 * A processor group: a Kafka consumer group over `inputs`, whose handlers (the
 * `@GroupHandler(group, topic)` methods of the module's processor) keep the group `table`, and
 * possibly more `stores`, in local LevelDB stores backed by compacted changelogs.
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
  /**
   * Write-once tables the handlers publish to (`ctx.store(t).publish`) for views, and never
   * read back: the group keeps no copy, and its restoration does not read them. A history
   * that only the API reads grows with every event ever handled; kept apart from the stores
   * the group reads back, it costs the group's restoration nothing.
   */
  readonly published?: readonly AnyTableTopic[];
  /** The topics handlers emit to (created at start-up like the others); `ctx.emit` refuses any other. */
  readonly outputs?: readonly AnyStreamTopic[];
}

/** Declares a processor group; see {@link GroupDefinition}. */
export function defineGroup<G extends GroupDefinition>(definition: G): G {
  const changelogs = groupChangelogs(definition).map((table) => table.name);
  if (new Set(changelogs).size !== changelogs.length) {
    throw new Error(`group ${definition.name}: table, stores and published tables need distinct topics`);
  }
  if (definition.table.writeOnce) throw new Error(`group ${definition.name}: its table ${definition.table.name} is overwritten by key; only stores can be write-once`);
  const overwritten = (definition.published ?? []).find((table) => !table.writeOnce);
  if (overwritten) throw new Error(`group ${definition.name}: it publishes to ${overwritten.name}, which is not write-once (tableTopic writeOnce)`);
  if (definition.inputs.length === 0) throw new Error(`group ${definition.name}: no input topics`);
  return definition;
}

/** The changelogs a group writes: its table, its stores, the tables it publishes to. */
export function groupChangelogs(definition: GroupDefinition): AnyTableTopic[] {
  return [definition.table, ...(definition.stores ?? []), ...(definition.published ?? [])];
}

/** The `extras` of the `@EventPattern(topic, extras)` that {@link GroupHandler} declares. */
export interface GroupHandlerExtras {
  group: string;
  /** The class and method of the handler, which the transport calls directly. */
  owner: Type;
  method: string | symbol;
}

/**
 * Makes a method the handler of `group` for the records of `topic`, one of the group's inputs:
 * Nest's `@EventPattern(topic.name, { group: group.name })`, with the names taken from the
 * definitions so that they cannot drift. The method takes the decoded record (`@Payload()`) and
 * the group's context (`@Ctx()`); their types are checked against the topic and the table.
 *
 * The transport calls the method itself, with those two arguments, not through Nest's per-call
 * pipeline (which allocated more per record than the handler and the record's decoding
 * together): pipes, guards, interceptors and filters on a group handler are refused at start-up.
 *
 * Throws where the class is declared when `topic` is not an input of `group`.
 */
export function GroupHandler<T, V>(group: GroupDefinition & { readonly table: TableTopic<V> }, topic: StreamTopic<T>) {
  return <M extends (payload: T, context: ProcessorContext<V>) => unknown>(target: object, method: string | symbol, descriptor: TypedPropertyDescriptor<M>): void => {
    if (!isInput(group, topic.name)) {
      throw new Error(`${target.constructor.name}.${String(method)}: ${notAnInput(group, topic.name)}`);
    }
    const extras: GroupHandlerExtras = { group: group.name, owner: target.constructor as Type, method };
    EventPattern<string>(topic.name, extras)(target, method, descriptor);
  };
}

/**
 * Refuses, with the group and topic named, handlers that would silently never run and inputs
 * that nothing would handle: a handler whose group is not declared among `declared`, a handler
 * for a topic that is not an input of its group, an input without a handler.
 * `handlers` maps group names to the topics they have handlers for.
 */
export function checkBindings(declared: ReadonlyMap<string, GroupDefinition>, handlers: ReadonlyMap<string, ReadonlyMap<string, unknown>>): void {
  for (const [name, byTopic] of handlers) {
    const group = declared.get(name);
    for (const topic of byTopic.keys()) {
      if (!group) throw new Error(`the handler for topic ${topic} belongs to group ${name}, which is not declared here (StreamsModule.forGroup)`);
      if (!isInput(group, topic)) throw new Error(notAnInput(group, topic));
    }
  }
  for (const group of declared.values()) {
    for (const input of group.inputs) {
      if (!handlers.get(group.name)?.has(input.name)) throw new Error(`group ${group.name} has no handler for its input ${input.name}`);
    }
  }
}

const isInput = (group: GroupDefinition, topic: string) => group.inputs.some((input) => input.name === topic);

const notAnInput = (group: GroupDefinition, topic: string) =>
  `group ${group.name} has a handler for topic ${topic}, which is not one of its inputs (${group.inputs.map((input) => input.name).join(', ')})`;

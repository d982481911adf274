import { type DynamicModule, Global, Inject, Module } from '@nestjs/common';
import { Emitter } from './emitter.js';
import type { GroupDefinition } from './group.js';
import { STREAMS_OPTIONS, type StreamsOptions, StreamsRuntime } from './streams-runtime.js';
import type { AnyTableTopic, TableTopic, Topic } from './topics.js';
import { StreamsServer } from './transport.js';

const viewToken = (table: TableTopic<unknown>) => `streams:view:${table.name}`;

/** Injects the {@link View} of a table provided with `StreamsModule.forView(table)`. */
export const InjectView = (table: AnyTableTopic) => Inject(viewToken(table));

/**
 * Wires the streams core into Nest. `forRoot` once, in the app module; then each domain module
 * declares what it needs: `forGroup(definition)` for a processor group (its handlers are the
 * module's `@GroupHandler` methods), `forView(table)` for a local replica to inject with
 * `@InjectView(table)`, `forTopics(...)` for topics it emits to with the {@link Emitter}.
 */
@Global()
@Module({})
export class StreamsModule {
  static forRoot(options: StreamsOptions): DynamicModule {
    return {
      module: StreamsModule,
      providers: [
        { provide: STREAMS_OPTIONS, useValue: options },
        StreamsRuntime,
        StreamsServer,
        { provide: Emitter, useFactory: (runtime: StreamsRuntime) => runtime.emitter, inject: [StreamsRuntime] },
      ],
      exports: [StreamsRuntime, StreamsServer, Emitter],
    };
  }

  static forGroup(definition: GroupDefinition): DynamicModule {
    const token = `streams:group:${definition.name}`;
    return {
      module: StreamsGroupModule,
      providers: [{ provide: token, useFactory: (runtime: StreamsRuntime) => runtime.registerGroup(definition), inject: [StreamsRuntime] }],
    };
  }

  static forView(...tables: AnyTableTopic[]): DynamicModule {
    const providers = tables.map((table) => ({
      provide: viewToken(table),
      useFactory: (runtime: StreamsRuntime) => runtime.view(table),
      inject: [StreamsRuntime],
    }));
    return { module: StreamsViewModule, providers, exports: providers.map((provider) => provider.provide) };
  }

  static forTopics(...topics: Topic[]): DynamicModule {
    const token = `streams:topics:${topics.map((topic) => topic.name).join(',')}`;
    return {
      module: StreamsTopicsModule,
      providers: [{ provide: token, useFactory: (runtime: StreamsRuntime) => runtime.registerTopics(...topics), inject: [StreamsRuntime] }],
    };
  }
}

@Module({})
class StreamsGroupModule {}

@Module({})
class StreamsViewModule {}

@Module({})
class StreamsTopicsModule {}

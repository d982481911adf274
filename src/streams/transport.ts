import { type INestApplicationContext, Injectable, type Type } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { MetadataScanner, ModuleRef, ModulesContainer } from '@nestjs/core';
import { type CustomTransportStrategy, type MessageHandler, Server } from '@nestjs/microservices';
import { PATTERN_EXTRAS_METADATA, PATTERN_HANDLER_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { PatternHandler } from '@nestjs/microservices/enums/pattern-handler.enum.js';
import { RpcParamtype } from '@nestjs/microservices/enums/rpc-paramtype.enum.js';
import type { RecordHandler } from './batch.js';
import { type GroupHandlerExtras, checkBindings } from './group.js';
import { StreamsRuntime } from './streams-runtime.js';

/**
 * The Nest transport of the processor groups. Nest hands it every `@GroupHandler(group, topic)`
 * handler of the modules in the app; on `listen` it checks that handlers and declared groups
 * match (see `checkBindings`), then starts one consumer group per declared group, which calls
 * those handlers with decoded records and a key-scoped context.
 *
 * It calls each handler's method on its instance, not Nest's wrapper around it: the wrapper
 * (parameter pipes, guards, interceptors, an observable per call) allocated more per record
 * than the handler and the record's decoding together, for nothing a group handler uses.
 * A handler that asks for any of it is refused at start-up rather than silently run without.
 */
@Injectable()
export class StreamsServer extends Server implements CustomTransportStrategy {
  private readonly bindings = new Map<string, Map<string, GroupHandlerExtras>>();

  constructor(
    private readonly runtime: StreamsRuntime,
    private readonly moduleRef: ModuleRef,
  ) {
    super();
  }

  override addHandler(pattern: unknown, _callback: MessageHandler, isEventHandler = false, extras: Record<string, unknown> = {}): void {
    const binding = extras as Partial<GroupHandlerExtras>;
    const topic = typeof pattern === 'string' ? pattern : undefined;
    if (!isEventHandler || !binding.group || !binding.owner || binding.method === undefined || !topic) {
      throw new Error(`stream handlers are declared with @GroupHandler(group, topic); got ${JSON.stringify(pattern)} ${JSON.stringify(extras)}`);
    }
    const byTopic = this.bindings.get(binding.group) ?? new Map<string, GroupHandlerExtras>();
    if (byTopic.has(topic)) throw new Error(`group ${binding.group} has two handlers for topic ${topic}`);
    byTopic.set(topic, binding as GroupHandlerExtras);
    this.bindings.set(binding.group, byTopic);
  }

  listen(callback: (error?: unknown) => void): void {
    let handlers: Map<string, Map<string, RecordHandler>>;
    try {
      checkBindings(this.runtime.declaredGroups(), this.bindings);
      handlers = new Map([...this.bindings].map(([group, byTopic]) => [group, new Map([...byTopic].map(([topic, binding]) => [topic, this.handlerOf(binding)]))]));
    } catch (error) {
      return callback(error);
    }
    this.runtime.startGroups(handlers).then(() => callback(), callback);
  }

  async close(): Promise<void> {
    await this.runtime.stopGroups();
  }

  on(): void {
    throw new Error('StreamsServer has no events to listen to');
  }

  unwrap<T>(): T {
    return this.runtime.kafka as T;
  }

  private handlerOf({ owner, method }: GroupHandlerExtras): RecordHandler {
    const name = `${owner.name}.${String(method)}`;
    const unsupported = nestCallPipeline(owner, method);
    if (unsupported.length > 0) {
      throw new Error(`${name}: a group handler is called with (payload, context) only, without Nest's per-call pipeline; remove its ${unsupported.join(', ')}`);
    }
    const instance: unknown = this.moduleRef.get(owner, { strict: false });
    const fn = (instance as Record<string | symbol, unknown>)[method];
    if (typeof fn !== 'function') throw new Error(`${name} is not a method of the instance Nest created`);
    return fn.bind(instance) as RecordHandler;
  }
}

/** What of Nest's per-call pipeline a handler method asks for: enhancers, or parameters other than `@Payload()`, `@Ctx()`. */
function nestCallPipeline(owner: Type, method: string | symbol): string[] {
  const handler = (owner.prototype as Record<string | symbol, object>)[method];
  const found: string[] = [];
  for (const [key, what] of [
    [PIPES_METADATA, 'pipes'],
    [GUARDS_METADATA, 'guards'],
    [INTERCEPTORS_METADATA, 'interceptors'],
    [EXCEPTION_FILTERS_METADATA, 'exception filters'],
  ] as const) {
    const onClass = (Reflect.getMetadata(key, owner) as unknown[] | undefined) ?? [];
    const onMethod = (Reflect.getMetadata(key, handler) as unknown[] | undefined) ?? [];
    if (onClass.length + onMethod.length > 0) found.push(what);
  }
  const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, owner, method) ?? {}) as Record<string, { index: number; data?: unknown; pipes?: unknown[] }>;
  const expected: Record<number, number> = { 0: RpcParamtype.PAYLOAD, 1: RpcParamtype.CONTEXT };
  for (const [typeAndIndex, param] of Object.entries(params)) {
    const type = Number(typeAndIndex.split(':')[0]);
    if (expected[param.index] !== type || param.data !== undefined || (param.pipes?.length ?? 0) > 0) {
      found.push(`parameter ${param.index} decorator (only @Payload() first and @Ctx() second, without arguments)`);
    }
  }
  return found;
}

/**
 * Starts the processor groups of a Nest application (or an application context without HTTP: a
 * processor thread), once it is initialised: hands the transport every `@GroupHandler` method of
 * the application's controllers, found as Nest's microservice layer finds event handlers, and
 * waits until it listens (every group started). Closing the application stops them.
 *
 * Nest's own `connectMicroservice` needs an HTTP application, and its HTTP platform (fastify)
 * was a third of what a processor thread loaded and held, for nothing it serves.
 */
export async function startStreams(app: INestApplicationContext): Promise<void> {
  const server = app.get(StreamsServer);
  const scanner = new MetadataScanner();
  for (const module of app.get(ModulesContainer).values()) {
    for (const { instance } of module.controllers.values()) {
      if (!instance) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, object>;
      for (const method of scanner.getAllMethodNames(prototype)) {
        const patterns = Reflect.getMetadata(PATTERN_METADATA, prototype[method]) as unknown[] | undefined;
        if (!patterns) continue;
        const isEvent = Reflect.getMetadata(PATTERN_HANDLER_METADATA, prototype[method]) === PatternHandler.EVENT;
        const extras = Reflect.getMetadata(PATTERN_EXTRAS_METADATA, prototype[method]) as Record<string, unknown> | undefined;
        for (const pattern of patterns) server.addHandler(pattern, NOT_CALLED, isEvent, extras);
      }
    }
  }
  await new Promise<void>((resolve, reject) => server.listen((error) => (error ? reject(error as Error) : resolve())));
}

/** The transport calls a handler's method itself (see StreamsServer), never Nest's wrapper of it. */
const NOT_CALLED: MessageHandler = () => Promise.reject(new Error('not called'));

import { Injectable, type INestApplication, type Type } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { ModuleRef } from '@nestjs/core';
import { type CustomTransportStrategy, type MessageHandler, type NestMicroservice, Server } from '@nestjs/microservices';
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
 * Connects the processor groups' transport to a Nest application, before `app.init()`; start
 * it with `startAllMicroservices()`.
 */
export function connectStreams(app: INestApplication): void {
  // Deferred, so that the transport registers its handlers at listen(); the application's own
  // init runs the lifecycle hooks, the transport must not run them again.
  const microservice = app.connectMicroservice(
    { strategy: app.get(StreamsServer) },
    { inheritAppConfig: false, deferInitialization: true },
  ) as NestMicroservice;
  microservice.setIsInitHookCalled(true);
}

import { Catch, Injectable, type INestApplication, type RpcExceptionFilter } from '@nestjs/common';
import { type CustomTransportStrategy, type MessageHandler, type NestMicroservice, Server } from '@nestjs/microservices';
import { type Observable, throwError } from 'rxjs';
import type { RecordHandler } from './batch.js';
import type { GroupHandlerExtras } from './group.js';
import { StreamsRuntime } from './streams-runtime.js';

/**
 * The Nest transport of the processor groups. Nest hands it every `@EventPattern(topic,
 * { group })` handler of the modules in the app; on `listen` it starts one consumer group per
 * declared group, which feeds those handlers decoded records and a key-scoped context.
 */
@Injectable()
export class StreamsServer extends Server implements CustomTransportStrategy {
  override readonly propagatesEventHandlerErrors = true;
  private readonly handlers = new Map<string, Map<string, RecordHandler>>();

  constructor(private readonly runtime: StreamsRuntime) {
    super();
  }

  override addHandler(pattern: unknown, callback: MessageHandler, isEventHandler = false, extras: Record<string, unknown> = {}): void {
    const { group } = extras as Partial<GroupHandlerExtras>;
    const topic = typeof pattern === 'string' ? pattern : undefined;
    if (!isEventHandler || !group || !topic) {
      throw new Error(`stream handlers are @EventPattern('<topic>', { group: '<group>' }); got ${JSON.stringify(pattern)} ${JSON.stringify(extras)}`);
    }
    const handlers = this.handlers.get(group) ?? new Map<string, RecordHandler>();
    if (handlers.has(topic)) throw new Error(`group ${group} has two handlers for topic ${topic}`);
    handlers.set(topic, callback as RecordHandler);
    this.handlers.set(group, handlers);
  }

  listen(callback: (error?: unknown) => void): void {
    this.runtime.startGroups(this.handlers).then(() => callback(), callback);
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
}

/**
 * Hands handler errors to the core as thrown, so that it can tell a PoisonRecordError (dead
 * letter) from a transient failure (retry) and log the real message with the record.
 */
@Catch()
export class StreamErrorPassThrough implements RpcExceptionFilter {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/**
 * Connects the processor groups' transport to a Nest application, before `app.init()`; start
 * it with `startAllMicroservices()`.
 */
export function connectStreams(app: INestApplication): void {
  // Deferred, so that the error filter applies to the handlers it registers at listen();
  // the application's own init runs the lifecycle hooks, the transport must not run them again.
  const microservice = app.connectMicroservice(
    { strategy: app.get(StreamsServer) },
    { inheritAppConfig: false, deferInitialization: true },
  ) as NestMicroservice;
  microservice.useGlobalFilters(new StreamErrorPassThrough());
  microservice.setIsInitHookCalled(true);
}

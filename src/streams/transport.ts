import { Catch, Injectable, type INestApplication, type INestMicroservice, type RpcExceptionFilter } from '@nestjs/common';
import { type CustomTransportStrategy, type MessageHandler, type NestMicroservice, Server } from '@nestjs/microservices';
import { type Observable, throwError } from 'rxjs';
import type { RecordHandler } from './batch.js';
import { type GroupHandlerExtras, checkBindings } from './group.js';
import { StreamsRuntime } from './streams-runtime.js';

/**
 * The Nest transport of the processor groups. Nest hands it every `@GroupHandler(group, topic)`
 * handler of the modules in the app, wrapped as for any microservice (parameter decorators,
 * pipes, filters); on `listen` it checks that handlers and declared groups match (see
 * `checkBindings`), then starts one consumer group per declared group, which feeds those
 * handlers decoded records and a key-scoped context.
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
      throw new Error(`stream handlers are declared with @GroupHandler(group, topic); got ${JSON.stringify(pattern)} ${JSON.stringify(extras)}`);
    }
    const handlers = this.handlers.get(group) ?? new Map<string, RecordHandler>();
    if (handlers.has(topic)) throw new Error(`group ${group} has two handlers for topic ${topic}`);
    handlers.set(topic, callback as RecordHandler);
    this.handlers.set(group, handlers);
  }

  listen(callback: (error?: unknown) => void): void {
    try {
      checkBindings(this.runtime.declaredGroups(), this.handlers);
    } catch (error) {
      return callback(error);
    }
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
  useStreamsTransport(microservice);
  microservice.setIsInitHookCalled(true);
}

/** What the microservice of the transport needs, in the application as in `StreamsTester`. */
export function useStreamsTransport(microservice: INestMicroservice): void {
  microservice.useGlobalFilters(new StreamErrorPassThrough());
}

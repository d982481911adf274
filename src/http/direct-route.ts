import { HttpException, HttpStatus, type INestApplication, type Paramtype, type Type } from '@nestjs/common';
import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  HTTP_CODE_METADATA,
  INTERCEPTORS_METADATA,
  PIPES_METADATA,
  RESPONSE_PASSTHROUGH_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { replyWithError } from './http-error.filter.js';
import { type SelfParsing, isSelfParsing, parseSelf } from './validation.js';

const DIRECT = 'directRoute';

interface DirectTarget {
  owner: Type;
  method: string | symbol;
}

/**
 * Marks a hot route that fastify calls directly, not through Nest's per-request chain: no guards,
 * interceptors, pipes or filters of Nest run for it, which saves an async step and a few
 * kilobytes of allocation per request (~10 % of a deposit's CPU under 1,000 clients). The
 * route is declared, documented and injected like any other (`@Post`, `@Api…`, the controller
 * Nest created); what differs is how its parameters are made:
 * - `@Body()`, `@Param()`, `@Query()`: a SelfParsing DTO, checked as RequestValidationPipe does;
 *   a route with a `@Body()` takes `application/json` only (any other content type, or none, is 415);
 * - `@Headers('name')`: that header's text; `@Res({ passthrough: true })`: the reply.
 *
 * Errors leave as every other error (replyWithError); `@HttpCode` sets the status of success.
 * Anything else on the route or its controller (guards, interceptors, pipes, filters, other
 * parameters) is refused when the route is registered, rather than silently skipped. Global ones
 * (`app.useGlobal…`) do not run either: what the service sets globally, its error filter and its
 * validation pipe, is what a direct route does itself. Needs {@link serveDirectRoutes}.
 */
export function DirectRoute(): MethodDecorator {
  return (target, method, descriptor) => {
    RouteConfig({ [DIRECT]: { owner: target.constructor as Type, method } satisfies DirectTarget })(target, method, descriptor);
  };
}

/** Serves the routes marked {@link DirectRoute} directly; call it before `app.init()`, which registers the routes. */
export function serveDirectRoutes(app: INestApplication, fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const target = (route.config as Record<string, unknown> | undefined)?.[DIRECT] as DirectTarget | undefined;
    if (target) route.handler = directHandler(app, target, route.method === 'POST' ? HttpStatus.CREATED : HttpStatus.OK, route.url.includes(':'));
  });
}

const ENHANCERS = [
  [PIPES_METADATA, 'pipes'],
  [GUARDS_METADATA, 'guards'],
  [INTERCEPTORS_METADATA, 'interceptors'],
  [EXCEPTION_FILTERS_METADATA, 'exception filters'],
] as const;

type Argument = (request: FastifyRequest, reply: FastifyReply) => unknown;

function directHandler(app: INestApplication, { owner, method }: DirectTarget, defaultStatus: number, hasPathParams: boolean) {
  const name = `${owner.name}.${String(method)}`;
  const handler = (owner.prototype as Record<string | symbol, (...args: unknown[]) => unknown>)[method];
  const refused = ENHANCERS.filter(
    ([key]) => ((Reflect.getMetadata(key, owner) as unknown[] | undefined)?.length ?? 0) + ((Reflect.getMetadata(key, handler) as unknown[] | undefined)?.length ?? 0) > 0,
  ).map(([, what]) => what);
  if (refused.length > 0) throw new Error(`${name}: a direct route runs none of Nest's ${refused.join(', ')}; remove them`);
  const status = (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? defaultStatus;
  const types = (Reflect.getMetadata('design:paramtypes', owner.prototype, method) ?? []) as unknown[];
  const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, owner, method) ?? {}) as Record<string, { index: number; data?: unknown; pipes?: unknown[] }>;
  const args: Argument[] = [];
  let takesBody = false;
  for (const [typeAndIndex, { index, data, pipes }] of Object.entries(params)) {
    const type = Number(typeAndIndex.split(':')[0]) as RouteParamtypes;
    const where = `${name}, parameter ${index}`;
    if ((pipes?.length ?? 0) > 0) throw new Error(`${where}: a direct route runs no pipes`);
    args[index] = argument(type, data, types[index], where, Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, owner, method) === true);
    takesBody ||= type === RouteParamtypes.BODY;
  }
  if (types.length !== Object.keys(params).length) throw new Error(`${name}: every parameter of a direct route needs a decorator`);

  const instance = app.get(owner, { strict: false }) as Record<string | symbol, (...args: unknown[]) => unknown>;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    // As on Nest's own fastify routes: an empty path parameter matches nothing (404).
    if (hasPathParams && hasEmptyValue(request.params as Record<string, string>)) return reply.callNotFound();
    try {
      if (takesBody && !/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
        throw new HttpException('Content-Type must be application/json', HttpStatus.UNSUPPORTED_MEDIA_TYPE);
      }
      const values = args.map((make) => make(request, reply));
      void reply.status(status);
      return await instance[method](...values);
    } catch (error) {
      replyWithError(error, request, reply);
      return reply;
    }
  };
}

function hasEmptyValue(params: Record<string, string>): boolean {
  for (const name in params) if (params[name] === '') return true;
  return false;
}

const FROM: Partial<Record<RouteParamtypes, [Paramtype, (request: FastifyRequest) => unknown]>> = {
  [RouteParamtypes.BODY]: ['body', (request) => request.body],
  [RouteParamtypes.PARAM]: ['param', (request) => request.params],
  [RouteParamtypes.QUERY]: ['query', (request) => request.query],
};

function argument(type: RouteParamtypes, data: unknown, metatype: unknown, where: string, passthrough: boolean): Argument {
  const from = FROM[type];
  if (from && data === undefined) {
    if (!isSelfParsing(metatype)) throw new Error(`${where}: a direct route's ${from[0]} must be a SelfParsing DTO`);
    const [kind, read] = from;
    return (request) => parseSelf(read(request), kind, metatype as SelfParsing<unknown>);
  }
  if (type === RouteParamtypes.HEADERS && typeof data === 'string') {
    const header = data.toLowerCase();
    return (request) => request.headers[header];
  }
  if (type === RouteParamtypes.RESPONSE && passthrough) return (_request, reply) => reply;
  throw new Error(`${where}: a direct route takes @Body(), @Param(), @Query() DTOs, @Headers('name') and @Res({ passthrough: true }) only`);
}

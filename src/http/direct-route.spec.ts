import { Body, type CanActivate, Controller, Get, Headers, HttpCode, HttpStatus, Module, Param, Post, Res, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DirectRoute, serveDirectRoutes } from './direct-route.js';
import { HttpErrorFilter } from './http-error.filter.js';
import { RequestValidationPipe, refuseIfAny, unknownFields } from './validation.js';

class NoteDto {
  text!: string;

  static parse(body: Record<string, unknown>): NoteDto {
    const problems = unknownFields(body, ['text']);
    if (typeof body.text !== 'string') problems.push('text must be a string');
    refuseIfAny(problems);
    return Object.assign(new NoteDto(), { text: body.text });
  }
}

class IdDto {
  id!: string;

  static parse(params: Record<string, unknown>): IdDto {
    refuseIfAny(params.id === 'bad' ? ['id is bad'] : []);
    return Object.assign(new IdDto(), { id: params.id });
  }
}

@Controller()
class NotesController {
  @Post('notes')
  @HttpCode(HttpStatus.ACCEPTED)
  @DirectRoute()
  add(@Body() note: NoteDto, @Headers('X-Author') author: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Record<string, unknown> {
    void reply.header('x-seen', 'yes');
    return { text: note.text, author: author ?? null, parsed: note instanceof NoteDto };
  }

  @Get('notes/:id')
  @DirectRoute()
  async get(@Param() { id }: IdDto): Promise<Record<string, unknown>> {
    if (id === 'gone') throw new Error('a bug, not a client mistake');
    return { id };
  }
}

class Never implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller()
class GuardedController {
  @Get('guarded')
  @UseGuards(Never)
  @DirectRoute()
  get(): string {
    return 'reached';
  }
}

class PlainDto {
  text!: string;
}

@Controller()
class PlainBodyController {
  @Post('plain')
  @DirectRoute()
  add(@Body() body: PlainDto): PlainDto {
    return body;
  }
}

/** The service's HTTP setup, for `controller` alone. */
async function appWith(controller: new (...args: never[]) => object): Promise<NestFastifyApplication> {
  @Module({ controllers: [controller] })
  class TestModule {}
  const app = await NestFactory.create<NestFastifyApplication>(TestModule, new FastifyAdapter(), { logger: false });
  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(new RequestValidationPipe());
  serveDirectRoutes(app, app.getHttpAdapter().getInstance() as unknown as FastifyInstance);
  return app;
}

describe(DirectRoute.name, () => {
  let sut: NestFastifyApplication;
  /** The answer to a request on a real socket: fastify's inject needs a module jest's ESM mode cannot load. */
  async function request(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
    const response = await fetch(`${await sut.getUrl()}${path}`, { method, headers, body });
    return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
  }
  const json = { 'content-type': 'application/json' };

  afterEach(async () => {
    await sut?.close();
  });

  it('hands the route its parsed DTO, header and reply, and answers with its @HttpCode', async () => {
    sut = await appWith(NotesController);
    await sut.listen(0, '127.0.0.1');

    const response = await request('POST', '/notes', { ...json, 'x-author': 'ann' }, '{"text":"hi"}');

    expect(response.status).toBe(202);
    expect(response.headers.get('x-seen')).toBe('yes');
    expect(response.body).toEqual({ text: 'hi', author: 'ann', parsed: true });
  });

  it('answers what a client got wrong as every route does: 415, 422, 404 in JSON', async () => {
    sut = await appWith(NotesController);
    await sut.listen(0, '127.0.0.1');

    const answers = [
      await request('POST', '/notes', { 'content-type': 'text/plain' }, 'hi'),
      await request('POST', '/notes'),
      await request('POST', '/notes', json, '{"text":"hi","extra":1}'),
      await request('POST', '/notes', json, '[1]'),
      await request('GET', '/notes/bad'),
      await request('GET', '/notes/'),
    ];

    expect(answers.map(({ status, body }) => [status, body])).toEqual([
      [415, { error: 'Content-Type must be application/json' }],
      [415, { error: 'Content-Type must be application/json' }],
      [422, { error: 'unknown field extra' }],
      [422, { error: 'the body must be a JSON object' }],
      [422, { error: 'id is bad' }],
      [404, expect.objectContaining({ error: expect.any(String) })],
    ]);
  });

  it('answers a failure of its own 500 without details', async () => {
    sut = await appWith(NotesController);
    await sut.listen(0, '127.0.0.1');

    const response = await request('GET', '/notes/gone');

    expect([response.status, response.body]).toEqual([500, { error: 'internal error' }]);
  });

  it('refuses, when the route is registered, what a direct route would silently skip', async () => {
    sut = await appWith(GuardedController);
    await expect(sut.init()).rejects.toThrow("GuardedController.get: a direct route runs none of Nest's guards; remove them");
    await sut.close();

    sut = await appWith(PlainBodyController);
    await expect(sut.init()).rejects.toThrow("PlainBodyController.add, parameter 0: a direct route's body must be a SelfParsing DTO");
  });
});

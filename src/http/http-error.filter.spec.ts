import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotStartedError } from '../streams/index.js';
import { replyWithError } from './http-error.filter.js';

/** What a reply was given: status, headers and body. */
function answer(exception: unknown): { status: number; headers: Record<string, string>; body: unknown } {
  const sent = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    headers(values: Record<string, string>) {
      sent.headers = values;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  replyWithError(exception, { id: 'test' } as FastifyRequest, reply as unknown as FastifyReply);
  return sent;
}

describe(replyWithError.name, () => {
  it('answers a service that is still starting with 503 and Retry-After', () => {
    expect(answer(new NotStartedError('view balance-table used before it started'))).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { error: 'the service is starting; retry' },
    });
  });

  it("knows the other bundle's copy of NotStartedError by its name (main.js throws it for a processor thread's groups)", () => {
    class NotStartedError extends Error {
      override readonly name = 'NotStartedError';
    }

    expect(answer(new NotStartedError('the processor thread has not started its groups yet'))).toMatchObject({ status: 503 });
  });

  it('answers anything else it does not know as a 500 that tells nothing of it', () => {
    expect(answer(new Error('secret detail'))).toMatchObject({ status: 500, body: { error: 'internal error' } });
  });
});

import { Controller, type PipeTransform, UsePipes } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { PATTERN_EXTRAS_METADATA } from '@nestjs/microservices/constants.js';
import { Test } from '@nestjs/testing';
import { tmpdir } from 'node:os';
import { type Sum, sumGroup, sumTopics } from '../../test/apps/sum-group.js';
import type { ProcessorContext } from './context.js';
import { GroupHandler } from './group.js';
import { StreamsRuntime } from './streams-runtime.js';
import { StreamsServer } from './transport.js';

const handler = async () => undefined;

/** What `listen` calls back with. */
const listen = (server: StreamsServer) => new Promise<unknown>((resolve) => server.listen(resolve));

class Uppercase implements PipeTransform {
  transform(value: unknown): unknown {
    return value;
  }
}

@Controller()
class PipedProcessor {
  @GroupHandler(sumGroup, sumTopics.numbers)
  @UsePipes(Uppercase)
  add(@Payload() _number: unknown, @Ctx() _ctx: ProcessorContext<Sum>): void {}
}

@Controller()
class PayloadPartProcessor {
  @GroupHandler(sumGroup, sumTopics.numbers)
  add(@Payload('value') _number: unknown, @Ctx() _ctx: ProcessorContext<Sum>): void {}
}

describe(StreamsServer.name, () => {
  let runtime: StreamsRuntime;
  let sut: StreamsServer;

  /** A transport whose handlers are the methods of `controllers`, as Nest would register them. */
  async function serverFor(...controllers: Array<new () => object>): Promise<StreamsServer> {
    const testing = await Test.createTestingModule({ controllers }).compile();
    const server = new StreamsServer(runtime, testing.get(ModuleRef));
    for (const controller of controllers) {
      const add = (controller.prototype as { add: object }).add;
      server.addHandler(sumTopics.numbers.name, handler, true, Reflect.getMetadata(PATTERN_EXTRAS_METADATA, add) as Record<string, unknown>);
    }
    return server;
  }

  beforeEach(() => {
    // Never initialised, so it never reaches for Kafka: the refusals come before any group starts.
    runtime = new StreamsRuntime({
      connection: { brokers: ['127.0.0.1:1'], clientId: 'test', topicPrefix: '', partitions: 1, replicationFactor: 1, sessionTimeoutMs: 6000 },
      dataDir: tmpdir(),
      emitter: { lingerMs: 1, timeoutMs: 100 },
    });
    sut = new StreamsServer(runtime, { get: () => ({}) } as unknown as ModuleRef);
  });

  const binding = { group: 'sum', owner: PipedProcessor, method: 'add' };

  it('refuses to start a handler for a topic that is not an input of its group', async () => {
    runtime.registerGroup(sumGroup);
    sut.addHandler('numbers', handler, true, binding);
    sut.addHandler('big', handler, true, binding);

    expect(await listen(sut)).toEqual(new Error('group sum has a handler for topic big, which is not one of its inputs (numbers)'));
  });

  it('refuses to start a handler whose group no module of the process declares', async () => {
    sut.addHandler('numbers', handler, true, binding);

    expect(await listen(sut)).toEqual(new Error('the handler for topic numbers belongs to group sum, which is not declared here (StreamsModule.forGroup)'));
  });

  it('takes only event handlers bound to a group, one per group and topic', () => {
    expect(() => sut.addHandler('numbers', handler, false, binding)).toThrow('stream handlers are declared with @GroupHandler(group, topic)');
    expect(() => sut.addHandler('numbers', handler, true, { group: 'sum' })).toThrow('stream handlers are declared with @GroupHandler(group, topic)');

    sut.addHandler('numbers', handler, true, binding);
    expect(() => sut.addHandler('numbers', handler, true, binding)).toThrow('group sum has two handlers for topic numbers');
  });

  it("refuses a handler that asks for Nest's per-call pipeline, which it would not get", async () => {
    runtime.registerGroup(sumGroup);

    expect(await listen(await serverFor(PipedProcessor))).toEqual(
      new Error("PipedProcessor.add: a group handler is called with (payload, context) only, without Nest's per-call pipeline; remove its pipes"),
    );
    expect(String(await listen(await serverFor(PayloadPartProcessor)))).toContain(
      'PayloadPartProcessor.add: a group handler is called with (payload, context) only, without Nest\'s per-call pipeline; remove its parameter 0 decorator',
    );
  });
});

import { tmpdir } from 'node:os';
import { StreamsRuntime } from './streams-runtime.js';
import { sumGroup } from '../../test/apps/sum-group.js';
import { StreamsServer } from './transport.js';

const handler = async () => undefined;

/** What `listen` calls back with. */
const listen = (server: StreamsServer) => new Promise<unknown>((resolve) => server.listen(resolve));

describe(StreamsServer.name, () => {
  let runtime: StreamsRuntime;
  let sut: StreamsServer;

  beforeEach(() => {
    // Never initialised, so it never reaches for Kafka: the refusals come before any group starts.
    runtime = new StreamsRuntime({
      connection: { brokers: ['127.0.0.1:1'], clientId: 'test', topicPrefix: '', partitions: 1, replicationFactor: 1, sessionTimeoutMs: 6000 },
      dataDir: tmpdir(),
      emitter: { lingerMs: 1, timeoutMs: 100 },
    });
    sut = new StreamsServer(runtime);
  });

  it('refuses to start a handler for a topic that is not an input of its group', async () => {
    runtime.registerGroup(sumGroup);
    sut.addHandler('numbers', handler, true, { group: 'sum' });
    sut.addHandler('big', handler, true, { group: 'sum' });

    expect(await listen(sut)).toEqual(new Error('group sum has a handler for topic big, which is not one of its inputs (numbers)'));
  });

  it('refuses to start a handler whose group no module of the process declares', async () => {
    sut.addHandler('numbers', handler, true, { group: 'sum' });

    expect(await listen(sut)).toEqual(new Error('the handler for topic numbers belongs to group sum, which is not declared here (StreamsModule.forGroup)'));
  });

  it('takes only event handlers bound to a group, one per group and topic', () => {
    expect(() => sut.addHandler('numbers', handler, false, { group: 'sum' })).toThrow('stream handlers are declared with @GroupHandler(group, topic)');
    expect(() => sut.addHandler('numbers', handler, true, {})).toThrow('stream handlers are declared with @GroupHandler(group, topic)');

    sut.addHandler('numbers', handler, true, { group: 'sum' });
    expect(() => sut.addHandler('numbers', handler, true, { group: 'sum' })).toThrow('group sum has two handlers for topic numbers');
  });
});

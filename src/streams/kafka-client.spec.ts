import { logLevel } from 'kafkajs';
import { describeKafkaLog } from './kafka-client.js';

describe(describeKafkaLog.name, () => {
  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) => ({ level, log: { message, timestamp: '', logger: 'kafkajs', ...extra } });

  it('says in plain words what a late reply means, at warn', () => {
    expect(describeKafkaLog(entry(logLevel.WARN, 'Response without match', { clientId: 'depositaja', correlationId: 42 }))).toEqual({
      level: 'warn',
      line: 'a broker answered a request after it had timed out: the broker or this machine is slow',
    });
  });

  it('keeps what kafkajs retries by itself out of the warnings', () => {
    const loading = entry(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2): The group coordinator is not available', { groupId: 'balance' });
    expect(describeKafkaLog(loading).level).toBe('debug');
  });

  it('keeps topic creation errors at debug: the core decides on them, and a race of two creators is no news', () => {
    const raced = entry(logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', { error: 'Topic creation errors' });
    expect(describeKafkaLog(raced)).toEqual({ level: 'debug', line: 'Response CreateTopics(key: 19, version: 3): Topic creation errors' });
  });

  it('passes an error on as an error, with its group and cause', () => {
    expect(describeKafkaLog(entry(logLevel.ERROR, 'Crash', { groupId: 'balance', error: 'boom' }))).toEqual({ level: 'error', line: 'Crash (group balance): boom' });
  });
});

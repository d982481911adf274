import { create } from '@bufbuild/protobuf';
import { manualFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import { FlagEventSchema, FlagSource, type FlagValue } from '../gen/depositaja/v1/flag_pb.js';
import { StreamsTester } from '../streams/testing/streams-tester.js';
import { flaggerGroup } from './flagger.group.js';
import { FlaggerModule } from './flagger.module.js';
import { FlaggerProcessor } from './flagger.processor.js';

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const autoFlag = (atMs: number, causeOffset: bigint) =>
  create(FlagEventSchema, { walletId: 'w1', flagged: true, source: FlagSource.AUTO, atMs: BigInt(atMs), causeOffset, reason: 'over' });

describe(FlaggerProcessor.name, () => {
  let sut: StreamsTester<FlagValue>;

  beforeEach(async () => {
    sut = await StreamsTester.forModule<FlagValue>(flaggerGroup, FlaggerModule);
  });

  afterEach(() => sut.close());

  it('applies an auto flag with its time, source and cause', async () => {
    await sut.feed(topics.flagWallet, 'w1', autoFlag(T0, 42n));

    expect(sut.value('w1')).toMatchObject({ flagged: true, source: FlagSource.AUTO, flaggedAtMs: BigInt(T0), autoCauseOffset: 42n, reason: 'over' });
  });

  it('keeps the first flag time and source when flagged again', async () => {
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', true, T0, 'looked odd'));
    await sut.feed(topics.flagWallet, 'w1', autoFlag(T0 + 1000, 3n));

    expect(sut.value('w1')).toMatchObject({ flagged: true, source: FlagSource.MANUAL, flaggedAtMs: BigInt(T0), autoCauseOffset: 3n });
  });

  it('unflags by hand, and ignores an auto flag caused before the unflag', async () => {
    await sut.feed(topics.flagWallet, 'w1', autoFlag(T0, 1n));
    await sut.feed(topics.flagWallet, 'w1', manualFlagEvent('w1', false, T0 + 5000));
    await sut.feed(topics.flagWallet, 'w1', autoFlag(T0 + 4000, 2n));

    expect(sut.value('w1')).toMatchObject({ flagged: false, source: FlagSource.MANUAL, flaggedAtMs: 0n, autoCauseOffset: 2n });

    await sut.feed(topics.flagWallet, 'w1', autoFlag(T0 + 6000, 3n));
    expect(sut.value('w1')).toMatchObject({ flagged: true, source: FlagSource.AUTO, flaggedAtMs: BigInt(T0 + 6000) });
  });

  it('dead-letters an event without a source', async () => {
    await sut.feed(topics.flagWallet, 'w1', create(FlagEventSchema, { walletId: 'w1', flagged: true, atMs: BigInt(T0) }));

    expect(sut.deadLetters()).toEqual([expect.objectContaining({ error: 'flag event has no source' })]);
  });
});

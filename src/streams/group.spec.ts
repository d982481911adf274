import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { PATTERN_EXTRAS_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { GroupHandler, defineGroup } from './group.js';
import { streamTopic, tableTopic } from './topics.js';

const numbers = streamTopic('numbers', Int64ValueSchema);
const sumGroup = defineGroup({ name: 'sum', inputs: [numbers], table: tableTopic('sums', Int64ValueSchema) });

describe(defineGroup.name, () => {
  it('refuses a published table that is not write-once, and a topic used twice', () => {
    const history = tableTopic('history', Int64ValueSchema);

    expect(() => defineGroup({ ...sumGroup, published: [history] })).toThrow('group sum: it publishes to history, which is not write-once');
    expect(() => defineGroup({ ...sumGroup, stores: [history], published: [{ ...history, writeOnce: true }] })).toThrow(
      'group sum: table, stores and published tables need distinct topics',
    );
  });
});

describe(GroupHandler.name, () => {
  it("declares Nest's event pattern with the names of the group and the topic", () => {
    class Processor {
      @GroupHandler(sumGroup, numbers)
      add(): void {}
    }

    expect(Reflect.getMetadata(PATTERN_METADATA, Processor.prototype.add)).toEqual(['numbers']);
    expect(Reflect.getMetadata(PATTERN_EXTRAS_METADATA, Processor.prototype.add)).toEqual({ group: 'sum', owner: Processor, method: 'add' });
  });

  it('refuses, where the class is declared, a topic that is not an input of the group', () => {
    const declare = () => {
      class Processor {
        @GroupHandler(sumGroup, streamTopic('other', Int64ValueSchema))
        add(): void {}
      }
      return Processor;
    };

    expect(declare).toThrow('Processor.add: group sum has a handler for topic other, which is not one of its inputs (numbers)');
  });
});

import { decodeListTransactions } from './kafkajs-transactions.js';

/** A ListTransactions v0 response after its correlation id, as a broker writes it. */
function response(errorCode: number, states: Array<[id: string, state: string]>): Buffer {
  const compactString = (text: string) => [Buffer.byteLength(text) + 1, ...Buffer.from(text)];
  const bytes = [
    0, // response header: no tagged fields
    0, 0, 0, 0, // throttle time
    errorCode >> 8, errorCode & 0xff,
    1, // unknown state filters: none
    states.length + 1,
    ...states.flatMap(([id, state]) => [...compactString(id), 0, 0, 0, 0, 0, 0, 0, 7, ...compactString(state), 0]),
    0,
  ];
  return Buffer.from(bytes);
}

describe(decodeListTransactions.name, () => {
  it('reads every transactional id the broker coordinates', () => {
    expect(decodeListTransactions(response(0, [['p-balance-0-5', 'Ongoing'], ['p-flagger-3', 'CompleteCommit']]))).toEqual(['p-balance-0-5', 'p-flagger-3']);
    expect(decodeListTransactions(response(0, []))).toEqual([]);
  });

  it("throws Kafka's error, retriable where Kafka says so", () => {
    const loading = (() => {
      try {
        decodeListTransactions(response(14, []));
      } catch (error) {
        return error as { type?: string; retriable?: boolean };
      }
    })();
    // Code 14, COORDINATOR_LOAD_IN_PROGRESS, under kafkajs's older name.
    expect(loading).toMatchObject({ type: 'GROUP_LOAD_IN_PROGRESS', retriable: true });
  });

  it('refuses a response that ends early', () => {
    expect(() => decodeListTransactions(response(0, [['p-balance-0-5', 'Ongoing']]).subarray(0, 12))).toThrow(RangeError);
  });
});

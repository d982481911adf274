import { type DestinationStream, destination } from 'pino';

/**
 * stdout for the JSON lines, written asynchronously: a slow reader of stdout (a log shipper, a
 * full pipe) must never stall the request path, as pino's default synchronous writes do (they
 * sleep and retry on a full pipe). Beyond 16 MiB unwritten, lines are dropped; whatever is
 * buffered is flushed at exit.
 *
 * Lines are queued as bytes. SonicBoom's text mode measures the text queued so far on every line
 * while a write is under way, which makes V8 copy it whole each time: under load ~9 KB allocated
 * per request line, a quarter of all a request allocated.
 *
 * The lines of one event-loop turn are handed over together, as one Buffer: per line, an array
 * push instead of a Buffer and SonicBoom's bookkeeping.
 *
 * Each write takes up to 1 MiB of what is queued. SonicBoom writes one chunk at a time, and the
 * next only when the event loop comes round again: with its default 16 KiB, a busy HTTP thread
 * (1,000 clients) wrote ~40 lines a turn, less than arrived, and its log fell 12 s behind in a
 * 15 s load (13,603 of 60,904 request lines written when the load ended; the rest held in memory).
 */
export function bufferedStdout(dest = 1): DestinationStream {
  const sonic = destination({ dest, sync: false, minLength: 0, maxWrite: 1024 * 1024, maxLength: 16 * 1024 * 1024, contentMode: 'buffer' });
  // In buffer mode its write takes bytes; its types know only text.
  const writeBytes = sonic.write.bind(sonic) as unknown as (bytes: Buffer) => boolean;
  const pending: string[] = [];
  const handOver = () => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending.length = 0;
    writeBytes(Buffer.from(text));
  };
  sonic.write = (line: string) => {
    if (pending.push(line) === 1) setImmediate(handOver);
    return true;
  };
  // pino flushes (and ends) the stream at exit: the lines of this turn go first. At exit nothing
  // asynchronous is waited for, so flushSync makes the stream synchronous before it hands them
  // over: handed over as they are, they went out in a write of libuv's pool, which the exit did
  // not wait for (a start-up failure's own log line came out after the reason printed below it,
  // or not at all).
  const { flush, flushSync, end } = sonic;
  sonic.flush = (callback) => (handOver(), flush.call(sonic, callback));
  sonic.flushSync = () => {
    (sonic as unknown as { sync: boolean }).sync = true;
    handOver();
    flushSync.call(sonic);
  };
  sonic.end = () => (handOver(), end.call(sonic));
  return sonic;
}

/**
 * A helper process of `acceptOnMoreQueues` (http/more-listeners.ts), not run by hand: it receives
 * the service's listening socket and sends it back `copies` times, each copy a new file
 * descriptor of the same socket. A connection this process happens to accept meanwhile goes
 * back too, unread, so none is lost; then it closes its own copy and exits.
 *
 * It must never outlive that moment: a copy left open would hold the service's port after the
 * service is gone (a restart would find it in use). So it exits as soon as the service cannot
 * be reached any more, and in any case after HANDOFF_MS.
 */
const HANDOFF_MS = 10_000;
setTimeout(() => process.exit(0), HANDOFF_MS).unref();

const exitUnlessSent = (error: Error | null): void => {
  if (error) process.exit(0);
};

process.once('message', (copies: number, server: import('node:net').Server & { pauseOnConnect: boolean }) => {
  // Not a byte of a connection's request may be read here: it would be lost with this process.
  server.pauseOnConnect = true;
  server.on('connection', (socket) => process.send!('socket', socket, exitUnlessSent));
  let left = copies;
  const next = (error: Error | null): void => {
    exitUnlessSent(error);
    if (left-- > 0) {
      process.send!('listener', server, next);
      return;
    }
    server.close(() => process.exit(0));
  };
  next(null);
});
process.on('disconnect', () => process.exit(0));

/**
 * A helper process of `acceptOnMoreQueues` (more-listeners.ts), not run by hand: it receives
 * the service's listening socket and sends it back `copies` times, each copy a new file
 * descriptor of the same socket. A connection this process happens to accept meanwhile goes
 * back too, unread, so none is lost; then it closes its own copy and exits.
 */
process.once('message', (copies: number, server: import('node:net').Server & { pauseOnConnect: boolean }) => {
  // Not a byte of a connection's request may be read here: it would be lost with this process.
  server.pauseOnConnect = true;
  server.on('connection', (socket) => process.send!('socket', socket));
  let left = copies;
  const next = (): void => {
    if (left-- > 0) {
      process.send!('listener', server, next);
      return;
    }
    server.close(() => process.exit(0));
  };
  next();
});
process.on('disconnect', () => process.exit(0));

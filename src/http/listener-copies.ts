/**
 * A helper process of `acceptOnMoreQueues` (more-listeners.ts), not run by hand: it receives
 * the service's listening socket and sends it back `copies` times, each copy a new file
 * descriptor of the same socket. A connection this process happens to accept meanwhile goes
 * back too, so none is lost; then it closes its own copy and exits.
 */
process.once('message', (copies: number, server: import('node:net').Server) => {
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

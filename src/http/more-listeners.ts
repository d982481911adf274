import { type ChildProcess, fork } from 'node:child_process';
import type { Server } from 'node:net';
import { getSystemErrorName } from 'node:util';

/**
 * Starts the helper process of {@link acceptOnMoreQueues} (`helperScript`: listener-copies.ts)
 * ahead of time: a node process takes ~0.1-0.2 s to start, which overlaps the service's own
 * start instead of following its listen. It waits for the socket; a service that never sends
 * one has it exit with it (or after 10 s).
 */
export function startListenerHelper(helperScript: string): ChildProcess {
  return fork(helperScript, [], { stdio: 'ignore' });
}

/**
 * Makes the HTTP server accept new connections `copies` times faster when it is busy.
 *
 * libuv (since 1.45, so every supported Node) accepts one connection per readiness event of a
 * listening socket, that is one per event-loop turn. Under load a turn serves every client that
 * sent a request, which takes hundreds of ms with a thousand clients; a thousand more clients
 * connecting at once then wait tens of seconds to be accepted (measured: 1,400 of 2,000 not
 * accepted within 10 s). With `copies` more descriptors of the same socket in the event loop,
 * each turn accepts up to `copies` + 1 connections. Node gives no dup() of a socket; passing
 * it to a helper process and back does (`helper`: {@link startListenerHelper}). Accepted
 * connections are handed to `server` as if it had accepted them. Resolves with the copies, to
 * close them on stop: all of them, or those that arrived before the helper gave up (it waits
 * 10 s at most; a main thread swamped by clients during start-up can take longer). Fewer queues
 * accept more slowly; they never stop the service from starting.
 *
 * A copy costs nothing while no connection waits, but each one wakes for every new connection and
 * all but one find nothing to accept (~0.4 µs each): clients that open a connection per request pay
 * that per request (HTTP_ACCEPT_QUEUES, docs/limits.md).
 *
 * Node listens on every copy it is handed, the helper's included, with its default backlog of
 * 511, and listen() on any descriptor sets the backlog of the one socket they share: so once the
 * copies are in, the socket gets `backlog` (the server's own) again. Without that, 2,000 clients
 * connecting at once overflowed the queue; the kernel dropped their SYNs, and the clients
 * waited 1 s and 3 s to send them again.
 */
export async function acceptOnMoreQueues(server: Server, copies: number, helper: ChildProcess, backlog: number, warn: (message: string) => void): Promise<Server[]> {
  if (copies <= 0 || !helper.connected) {
    helper.kill();
    return [];
  }
  const listeners = await copiesOf(server, copies, helper);
  const failed = (server as Server & { _handle?: { listen(backlog: number): number } })._handle?.listen(backlog) ?? 0;
  if (failed !== 0) warn(`could not set the listen backlog to ${backlog} again (${getSystemErrorName(failed)}): connections beyond 511 waiting to be accepted will be dropped`);
  return listeners;
}

function copiesOf(server: Server, copies: number, helper: ChildProcess): Promise<Server[]> {
  return new Promise((resolve) => {
    const listeners: Server[] = [];
    helper.on('message', (message, handle) => {
      if (message === 'listener') {
        const listener = handle as Server;
        listener.on('connection', (socket) => server.emit('connection', socket));
        listeners.push(listener);
        if (listeners.length === copies) resolve(listeners);
      } else if (message === 'socket' && handle) {
        server.emit('connection', handle);
      }
    });
    helper.on('error', () => resolve(listeners));
    helper.on('exit', () => resolve(listeners));
    helper.send(copies, server);
  });
}

import { Injectable } from '@nestjs/common';

/**
 * Whether the process has finished starting (bootstrap.ts says so last). HTTP answers from the
 * first moment, but a process still setting up its accept queues, or whose processor threads
 * have not all joined, is not ready: a load balancer that sent a thousand clients then could
 * starve what is left of the start-up.
 */
@Injectable()
export class StartUp {
  done = false;
}

/** The processor groups a process may run; each one is a module of its own (app.module.ts). */
export const PROCESSOR_NAMES = ['balance', 'threshold', 'flagger'] as const;
export type ProcessorName = (typeof PROCESSOR_NAMES)[number];

/** What one process runs: the HTTP API, and any subset of the processor groups. */
export interface ServiceOptions {
  api: boolean;
  processors: readonly ProcessorName[];
}

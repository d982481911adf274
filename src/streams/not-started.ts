/**
 * Used before the process has started it: its topics are not checked, its views or its processor
 * threads' groups not serving yet. A process serves HTTP while it starts, so a request can meet
 * this; it is worth a retry.
 */
export class NotStartedError extends Error {
  override readonly name = 'NotStartedError';
}

/**
 * A read-your-writes token: where an event landed (its topic, partition and offset). A reader
 * that presents it waits until the views include that event. Opaque to clients.
 */
export interface ReadToken {
  kind: 'deposit' | 'flag';
  partition: number;
  offset: number;
}

const KINDS = { d: 'deposit', f: 'flag' } as const;

export function encodeReadToken(token: ReadToken): string {
  return Buffer.from(`${token.kind[0]}.${token.partition}.${token.offset}`).toString('base64url');
}

/** The token, or undefined when the text is not one. */
export function decodeReadToken(text: string): ReadToken | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) return undefined;
  const match = /^([df])\.(\d{1,5})\.(\d{1,16})$/.exec(Buffer.from(text, 'base64url').toString());
  if (!match) return undefined;
  return { kind: KINDS[match[1] as 'd' | 'f'], partition: Number(match[2]), offset: Number(match[3]) };
}

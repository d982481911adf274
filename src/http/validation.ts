import { type ArgumentMetadata, UnprocessableEntityException, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';

/**
 * The global validation of request bodies and queries against their DTO classes: unknown
 * fields are refused, and every problem is a 422 `{"error": "…"}` naming the fields.
 */
export class RequestValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      stopAtFirstError: true,
      exceptionFactory: (errors) => new UnprocessableEntityException(messages(errors).join('; ')),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // No body at all is an empty one (routes whose body is optional); a route that needs a
    // JSON body refuses a missing one with 415 before this runs.
    if (metadata.type === 'body' && value === undefined) value = {};
    if (metadata.type === 'body' && metadata.metatype && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new UnprocessableEntityException('the body must be a JSON object');
    }
    if (metadata.metatype && typeof value === 'object' && value !== null) {
      // class-transformer recurses without bound (a deep body overflows the stack) and skips
      // fields named like Object.prototype's members (so the whitelist never sees them).
      if (depth(value) > MAX_DEPTH) throw new UnprocessableEntityException(`the ${metadata.type} is nested deeper than ${MAX_DEPTH} levels`);
      const inherited = Object.keys(value).find((key) => key in Object.prototype || key === '__proto__');
      if (inherited !== undefined) throw new UnprocessableEntityException(`unknown field ${inherited}`);
    }
    return super.transform(value, metadata);
  }
}

const MAX_DEPTH = 16;

/** How deeply a parsed JSON value nests, counted without recursion (so a deep value cannot overflow the stack). */
function depth(root: unknown): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[root, 1]];
  while (pending.length > 0) {
    const [value, level] = pending.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    deepest = Math.max(deepest, level);
    if (deepest > MAX_DEPTH) return deepest;
    for (const child of Object.values(value)) pending.push([child, level + 1]);
  }
  return deepest;
}

function messages(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => [
    ...Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith('property ') && message.endsWith(' should not exist') ? `unknown field ${error.property}` : message,
    ),
    ...messages(error.children ?? []),
  ]);
}

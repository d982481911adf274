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
    return super.transform(value, metadata);
  }
}

function messages(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => [
    ...Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith('property ') && message.endsWith(' should not exist') ? `unknown field ${error.property}` : message,
    ),
    ...messages(error.children ?? []),
  ]);
}

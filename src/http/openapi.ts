import type { OpenAPIObject } from '@nestjs/swagger';

/** Answers the HTTP edge may give on any route, before or around the route's own code. */
const EDGE_RESPONSES: Record<string, string> = {
  '400': 'The request is not valid HTTP, its path is not valid, or its JSON body is malformed',
  '408': 'The request did not arrive within REQUEST_TIMEOUT_MS',
  '431': 'The request line and headers are larger than 16384 bytes',
  '503': 'The service is starting, at capacity or stopping: retry after Retry-After',
};

/** And on routes that take a body. */
const BODY_RESPONSES: Record<string, string> = {
  '413': 'The body is larger than 16 KiB',
  '415': 'Content-Type is not application/json',
};

/**
 * Documents on every operation the statuses the service's edge answers for it (limits,
 * overload, stopping, body parsing), so that the document lists every status a client can meet;
 * a route's own description of a status is kept.
 */
export function documentEdgeResponses(document: OpenAPIObject): OpenAPIObject {
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/ErrorDto' } } };
  for (const operations of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = operations[method];
      if (!operation) continue;
      const statuses = { ...EDGE_RESPONSES, ...(operation.requestBody ? BODY_RESPONSES : {}) };
      for (const [status, description] of Object.entries(statuses)) {
        operation.responses[status] ??= { description, content: error };
      }
    }
  }
  return document;
}

/**
 * Gives back their names to the classes of a bundle that refer to themselves. esbuild writes such a
 * class `X = class _X {` (the inner binding keeps the class's own references apart from the outer
 * variable), and since the bundles do not keep names (scripts/build.ts), `X.name` is `_X`: Nest's
 * loggers took their contexts from it (`_InstanceLoader`, past the filter that files Nest's wiring
 * report under debug), and the OpenAPI document its schemas' names (`_DepositRequestDto`). Each
 * such class gets a static block that names it, at the end of its first line, so that no column a
 * source map points at moves. It runs once, where the class is defined; what esbuild's `keepNames`
 * would add to every function created on the request path is not added.
 */
const SELF_NAMED_CLASS = /(^|[^\w$.])([A-Za-z$][\w$]*) = class _\2( extends [\w$.]+)? \{$/;

export function namingSelfReferringClasses(source: string): { source: string; named: number } {
  let named = 0;
  const lines = source.split('\n').map((line) => {
    const match = SELF_NAMED_CLASS.exec(line);
    if (!match) return line;
    named++;
    return `${line} static { Object.defineProperty(this, "name", { value: ${JSON.stringify(match[2])} }); }`;
  });
  return { source: lines.join('\n'), named };
}

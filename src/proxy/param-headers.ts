import { isObject } from './router.ts';

/**
 * Tool parameters a server wants to see in HTTP headers too (2026-07-28, SEP-2243): a property
 * of a tool's inputSchema marked `"x-mcp-header": "Region"` is sent as `Mcp-Param-Region` with
 * each call's value, so that a load balancer can route on it without reading the body.
 */
export interface ParamHeader {
  /** The property's path through `properties`. */
  path: string[];
  name: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TYPES = new Set(['string', 'integer', 'boolean']);
/** Keywords whose subschemas are not reachable through `properties` alone: no declaration may sit there. */
const ELSEWHERE = [
  'items', 'prefixItems', 'contains', 'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'propertyNames',
  'patternProperties', 'dependentSchemas', 'oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else', '$defs', 'definitions',
];
/** Keywords whose value is a map of subschemas, not a subschema. */
const MAPS = new Set(['patternProperties', 'dependentSchemas', '$defs', 'definitions']);
const MAX_DEPTH = 32;


/**
 * The header declarations of a tool's inputSchema, or why they make the tool invalid: a name
 * that is empty or not an HTTP token, a property that is not a string, integer or boolean, a
 * name declared twice (in any case), a declaration outside the chain of `properties`.
 */
export function paramHeaders(schema: unknown): { headers: ParamHeader[] } | { invalid: string } {
  const headers: ParamHeader[] = [];
  const seen = new Set<string>();
  const visit = (node: unknown, path: string[], reachable: boolean): string | undefined => {
    if (!isObject(node)) return undefined;
    if (path.length > MAX_DEPTH) return `nests deeper than ${MAX_DEPTH} levels`;
    if ('x-mcp-header' in node) {
      const name = node['x-mcp-header'];
      const where = path.join('.') || '(top level)';
      if (!reachable || path.length === 0) return `${where}: x-mcp-header is allowed only on properties reached through "properties"`;
      if (typeof name !== 'string' || !TOKEN.test(name)) return `${where}: x-mcp-header ${JSON.stringify(name)} is not an HTTP header name`;
      if (typeof node.type !== 'string' || !TYPES.has(node.type)) return `${where}: x-mcp-header is allowed only on string, integer and boolean properties`;
      if (seen.has(name.toLowerCase())) return `x-mcp-header "${name}" is declared twice`;
      seen.add(name.toLowerCase());
      headers.push({ path, name });
    }
    if (isObject(node.properties)) {
      for (const [key, child] of Object.entries(node.properties)) {
        const why = visit(child, [...path, key], reachable);
        if (why) return why;
      }
    }
    for (const keyword of ELSEWHERE) {
      const sub = node[keyword];
      if (sub === undefined) continue;
      const branches = Array.isArray(sub) ? sub : MAPS.has(keyword) && isObject(sub) ? Object.values(sub) : [sub];
      for (const branch of branches) {
        const why = visit(branch, [...path, `<${keyword}>`], false);
        if (why) return why;
      }
    }
    return undefined;
  };
  const why = visit(schema, [], true);
  return why ? { invalid: why } : { headers };
}

/** A header value as the spec writes one: plain printable ASCII as it is, else `=?base64?…?=` of its UTF-8. */
export function headerValue(value: string): string {
  return /^[\x20-\x7e\t]*$/.test(value) && value === value.trim() ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/**
 * A header value as it was meant: `=?base64?…?=` decoded (undefined when that is not valid
 * base64: wrong alphabet or padding), anything else taken literally (undefined when it holds
 * characters a header value may not).
 */
export function decodedHeader(value: string): string | undefined {
  if (/[^\x20-\x7e\t]/.test(value)) return undefined;
  const m = /^=\?base64\?(.*)\?=$/.exec(value);
  if (!m) return value;
  return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(m[1]!) ? Buffer.from(m[1]!, 'base64').toString('utf8') : undefined;
}

/** The Mcp-Param-* headers of one call: each declared parameter the arguments give a value (null and absent ones are left out). */
export function paramHeaderValues(declared: ParamHeader[], args: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { path, name } of declared) {
    const plain = argumentAt(args, path);
    if (plain !== undefined) out[`mcp-param-${name}`] = headerValue(plain);
  }
  return out;
}

/** The argument at `path`, as its header carries it (before encoding), or undefined when it sends none. */
function argumentAt(args: unknown, path: string[]): string | undefined {
  let value = args;
  for (const key of path) value = isObject(value) ? value[key] : undefined;
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)) ? String(value) : undefined;
}

/**
 * Why a call's Mcp-Param-* headers disagree with its arguments (a server's check): a declared
 * parameter the arguments give must have its header, decoding to the same value; one they do
 * not give must have none.
 */
export function paramHeadersMismatch(declared: ParamHeader[], args: unknown, headers: Record<string, string | string[] | undefined>): string | undefined {
  for (const { path, name } of declared) {
    const expected = argumentAt(args, path);
    const got = headers[`mcp-param-${name.toLowerCase()}`];
    if (got === undefined) {
      if (expected !== undefined) return `Mcp-Param-${name} is missing, the arguments give ${path.join('.')}`;
      continue;
    }
    if (typeof got !== 'string') return `Mcp-Param-${name} is sent more than once`;
    const decoded = decodedHeader(got);
    if (decoded === undefined) return `Mcp-Param-${name} is not a valid value (bad characters or base64)`;
    if (decoded !== expected) return `Mcp-Param-${name} does not match the arguments' ${path.join('.')}`;
  }
  return undefined;
}

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../shared/files.ts';
import { logger } from '../shared/log.ts';

/** Where large answers go (gh-aw-mcpg's `payloadDir`), and from what size. */
export interface PayloadOptions {
  dir: string;
  /** Answers larger than this many bytes (their JSON) are written to a file. */
  threshold: number;
  /** The agent reads the file under this prefix instead of `dir` (its container's mount). */
  pathPrefix?: string;
}

const PREVIEW = 500;
const INSTRUCTIONS =
  'The payload was too large for an MCP response. The complete original response data is saved as a JSON file at payloadPath. The file contains valid JSON that can be parsed directly. The payloadSchema shows the structure and types of fields in the full response, but not the actual values. To access the full data with all values, read and parse the JSON file at payloadPath.';
const log = logger('payloads');

/**
 * A tool result too large to hand over whole, as gh-aw-mcpg answers it: the data is written to
 * `dir/<agent>/<id>/payload.json` (0600, in 0700 folders: one agent's files are not another's)
 * and the agent is given its path, the first 500 characters, and the data's shape (the types, not
 * the values). Only what the flow rule let through reaches here: the file holds no more than the
 * agent could read. A result that cannot be written is answered whole, with a warning.
 */
export function offload(result: Record<string, unknown>, agent: string, options: PayloadOptions): Record<string, unknown> {
  const text = JSON.stringify(result);
  if (Buffer.byteLength(text) <= options.threshold) return result;
  const first = (result.content as { type?: string; text?: string }[] | undefined)?.[0];
  let data: unknown = result;
  let json = text;
  if (first?.type === 'text' && typeof first.text === 'string' && /^\s*[[{]/.test(first.text)) {
    try {
      data = JSON.parse(first.text);
      json = first.text;
    } catch {
      // not JSON text: the whole result is the payload
    }
  }
  const id = randomBytes(16).toString('hex');
  const folder = join(options.dir, safe(agent), id);
  try {
    makeDirs(folder, 0o700);
    writeFileSync(join(folder, 'payload.json'), json, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    log.warn(`cannot write a large answer under ${options.dir}: ${(err as Error).message}; it is answered whole`);
    return result;
  }
  const path = join(options.pathPrefix ?? options.dir, safe(agent), id, 'payload.json');
  const meta = { agentInstructions: INSTRUCTIONS, payloadPath: path, payloadPreview: json.slice(0, PREVIEW), payloadSchema: shape(data), originalSize: Buffer.byteLength(json) };
  return { content: [{ type: 'text', text: JSON.stringify(meta) }], ...(result.isError !== undefined && { isError: result.isError }) };
}

/** An agent's name as one path segment. */
const safe = (agent: string) => agent.replace(/[^A-Za-z0-9_-]/g, '_') || 'agent';

/** The data's shape: every value replaced by its type; an array by the shape of its first item. */
function shape(value: unknown, depth = 0): unknown {
  if (depth > 64) return 'object';
  if (Array.isArray(value)) return value.length ? [shape(value[0], depth + 1)] : [];
  if (value === null) return 'null';
  if (typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape((value as Record<string, unknown>)[k], depth + 1)]));
  return typeof value;
}

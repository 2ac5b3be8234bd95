import { z } from 'zod';
import { MODES } from '../config/schema.ts';
import { OPERATIONS, type Operation } from '../difc/labels.ts';
import type { ResponseLabeling } from '../difc/response.ts';
import { firstIssue } from '../shared/errors.ts';
import type { AgentAnswer, ResourceAnswer } from './guard.ts';

/** The JSON a WebAssembly guard answers, checked field by field before the gateway trusts it. */

// Go guards encode empty slices as null: null is an empty set; a missing key is an error.
const tags = z.array(z.string()).nullable();
const labels = z.object({ description: z.string().optional(), secrecy: tags, integrity: tags });
const plain = (l: z.infer<typeof labels>) => ({ secrecy: l.secrecy ?? [], integrity: l.integrity ?? [] });

const agentSchema = z.object({ agent: labels, difc_mode: z.enum(MODES).optional() });
const resourceSchema = z.object({
  resource: labels,
  operation: z.enum(OPERATIONS as [Operation, ...Operation[]]),
  // The response takes the resource's labels, unread: label_response is not asked.
  response: z.literal('resource').optional(),
});
const responseSchema = z.union([
  z.object({ items: z.array(z.object({ data: z.unknown(), labels })) }),
  z.object({
    labeled_paths: z.array(z.object({ path: z.string(), labels })),
    default_labels: labels.optional(),
    items_path: z.string().optional(),
  }),
]);

export class PayloadError extends Error {}

function parse<S extends z.ZodType>(schema: S, text: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PayloadError(`not valid JSON (${(err as Error).message}): ${text.slice(0, 80)}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new PayloadError(`field ${firstIssue(r.error)}`);
  }
  return r.data;
}

export function parseAgent(text: string): AgentAnswer {
  const a = parse(agentSchema, text);
  return { agent: plain(a.agent), difcMode: a.difc_mode };
}

export function parseResource(text: string): ResourceAnswer {
  const r = parse(resourceSchema, text);
  return { resource: { description: r.resource.description ?? '', ...plain(r.resource) }, operation: r.operation, ...(r.response && { wholeResponse: true }) };
}

export function parseResponse(text: string | null): ResponseLabeling {
  if (text === null) return { kind: 'whole' };
  const r = parse(responseSchema, text);
  if ('items' in r) return { kind: 'items', items: r.items.map((i) => ({ data: i.data, labels: plain(i.labels) })) };
  return {
    kind: 'paths',
    paths: r.labeled_paths.map((p) => ({ path: p.path, labels: plain(p.labels) })),
    defaultLabels: r.default_labels && plain(r.default_labels),
    itemsPath: r.items_path,
  };
}

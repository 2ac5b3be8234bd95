import { McpgError } from '../shared/errors.ts';
import type { Guard, ResourceAnswer } from './guard.ts';

const none = { secrecy: [], integrity: [] };

/** The noop guard's one answer: frozen, as every call shares it. */
const UNLABELED: ResourceAnswer = Object.freeze({
  resource: Object.freeze({ description: 'unlabeled', secrecy: Object.freeze([]) as unknown as string[], integrity: Object.freeze([]) as unknown as string[] }),
  operation: 'read-write',
  wholeResponse: true,
});

/**
 * No labels; every call read-write, so it passes only while the agent carries no tags. It says
 * so at once, and that the response is unlabeled too: it is not asked about the response.
 */
export function noopGuard(name = 'noop'): Guard {
  return {
    name,
    passthrough: true,
    labelAgent: async () => ({ agent: none }),
    labelResource: () => UNLABELED,
    labelResponse: async () => ({ kind: 'whole' }),
  };
}

/**
 * For output channels: every call is a write, and the sink accepts the secrecy tags in the
 * policy's `accept` list (`["*"]` accepts all). An agent tainted beyond that cannot write here.
 */
export function writeSinkGuard(name: string, policy: unknown): Guard {
  const accept = (policy as { accept?: unknown } | undefined)?.accept;
  const extra = policy && typeof policy === 'object' ? Object.keys(policy).filter((k) => k !== 'accept') : [];
  if (!Array.isArray(accept) || !accept.every((t) => typeof t === 'string') || extra.length) {
    throw new McpgError(
      'GUARD_LOAD',
      `guard "${name}": write-sink needs policy = { accept = ["tag", ...] } and nothing else`,
    );
  }
  return {
    name,
    labelAgent: async () => ({ agent: none }),
    labelResource: async (tool) => ({
      resource: { description: `write-sink (${tool})`, secrecy: [...accept], integrity: [] },
      operation: 'write',
    }),
    // What a sink answers (an id, "ok") is not the data written to it: the accept list says
    // what may flow in, not what flows out. Its answer carries no labels.
    labelResponse: async () => ({ kind: 'whole', labels: none }),
  };
}

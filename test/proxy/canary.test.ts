// The closed flow: a server puts a marker into every field of every message it can send, its
// guard labels all of it private, and an agent with no clearance must never see the marker:
// not in results, content blocks, _meta, errors, progress, log lines, server requests, prompts,
// resources or completions. In propagate mode reading taints, and the taint then stops writes
// to a public sink, the agent's answers to a server's requests included.
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from '../../src/config/load.ts';
import type { Mode } from '../../src/config/schema.ts';
import { writeSinkGuard } from '../../src/guard/builtin.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { type InProcess, inProcess } from '../helpers/in-process.ts';
import { fixtureServer, readAudit, tempDir } from '../helpers/mcpg.ts';
import { join } from 'node:path';

const MARK = 'CANARY-7f3e';
const PRIVATE = { secrecy: ['private:canary'], integrity: [] };
const PUBLIC = { secrecy: [], integrity: [] };
/** The tools that only ask the client: their calls are public, what the server asks is not. */
const ASKS = ['sample', 'elicit', 'elicit_url', 'roots'];

/**
 * Everything of the canary server is private; its asking tools' calls are public. `whole`: the
 * guard says, as it labels a call, that the response takes the call's labels (all but
 * read_items), and is never asked to label those responses.
 */
function canaryGuard(whole = false): Guard {
  const declared = (tool: string) => whole && tool !== 'read_items';
  return {
    name: 'canary-guard',
    labelAgent: async () => ({ agent: PUBLIC }),
    labelResource: async (tool) => ({
      resource: { description: 'canary', ...(ASKS.includes(tool) ? PUBLIC : PRIVATE) },
      operation: tool.startsWith('write') ? 'write' : 'read',
      ...(declared(tool) && { wholeResponse: true as const }),
    }),
    labelResponse: async (tool) => {
      if (declared(tool)) throw new Error(`label_response asked for "${tool}", whose response the guard labeled with the call`);
      return tool === 'read_items' ? { kind: 'paths', itemsPath: '', paths: [{ path: '/0', labels: PRIVATE }] } : { kind: 'whole' };
    },
  };
}

interface Agent extends InProcess {
  /** Every message the agent received, as JSON. */
  wire: string[];
  answers: { sampling: unknown[]; elicitation: unknown[] };
  audit: string;
}

async function agent(mode: Mode, onSampling?: () => Promise<void>, era?: '2026', whole = false): Promise<Agent> {
  const audit = join(tempDir(), 'audit.jsonl');
  const answers = { sampling: [] as unknown[], elicitation: [] as unknown[] };
  const sampled = async (params: unknown) => {
    answers.sampling.push(params);
    await onSampling?.();
    return { role: 'assistant' as const, content: { type: 'text' as const, text: 'the answer' }, model: 'm' };
  };
  const elicited = async (params: unknown) => (answers.elicitation.push(params), { action: 'accept' as const, content: { x: 'y' } });
  const gw = await inProcess(
    { gateway: { mode }, mcpServers: { canary: fixtureServer('canary.ts', MARK), sink: fixtureServer('canary.ts', 'sink') } },
    {
      capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} },
      auditLog: audit,
      era,
      setup2026: (client) => {
        client.setRequestHandler('sampling/createMessage', async (request) => (await sampled(request.params)) as never);
        client.setRequestHandler('elicitation/create', async (request) => (await elicited(request.params)) as never);
        client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///agent-root' }] }) as never);
      },
      makeGuard: async (server: Server) => (server.name === 'sink' ? writeSinkGuard('sink', { accept: [] }) : canaryGuard(whole)),
      setup: (client) => {
        client.setRequestHandler(CreateMessageRequestSchema, async (request) => sampled(request.params));
        client.setRequestHandler(ElicitRequestSchema, async (request) => elicited(request.params));
        client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///agent-root' }] }));
      },
    },
  );
  const transport = (era === '2026' ? gw.client2026.transport : gw.client.transport) as NonNullable<typeof gw.client.transport>;
  const sdk = transport.onmessage!;
  const wire: string[] = [];
  transport.onmessage = (m, extra) => {
    wire.push(JSON.stringify(m));
    sdk(m, extra);
  };
  return Object.assign(gw, { wire, answers, audit });
}

/** Every kind of request through which the canary's data could come back (a 2026 agent has no log level or subscribe of the older kind). */
async function touchEverything(a: Agent, era?: '2026'): Promise<void> {
  const progress = { onprogress: () => {} };
  const settle = (p: Promise<unknown>) => p.then(() => {}, () => {});
  const c = era === '2026' ? a.client2026 : a.client;
  for (const name of ['read', 'read_items', 'write', 'write_task', 'fail', 'fail_result', 'sample', 'elicit', 'elicit_url', 'roots']) {
    const params = { name: `canary___${name}`, arguments: {} };
    await settle(era === '2026' ? a.client2026.callTool(params, progress) : a.client.callTool(params, undefined, progress));
  }
  await settle(c.getPrompt({ name: 'canary___p' }));
  await settle(c.readResource({ uri: 'canary://doc' }));
  await settle(c.readResource({ uri: 'canary://items/1' }));
  await settle(c.complete({ ref: { type: 'ref/prompt', name: 'canary___p' }, argument: { name: 'x', value: '' } }));
  if (era !== '2026') {
    await settle(a.client.setLoggingLevel('debug'));
    await settle(a.client.subscribeResource({ uri: 'canary://doc' }));
  }
  await settle(c.callTool({ name: 'canary___touch', arguments: {} }));
  if (era === '2026') await asTask(a);
}

/** A 2026 agent that takes tasks calls write_task: the server makes it a task, and the agent follows mcpg's task to its end. */
async function asTask(a: Agent): Promise<void> {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { sampling: {}, elicitation: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } },
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  };
  let n = 0;
  const send = async (method: string, params: object) => {
    const id = `raw-task-${++n}`;
    a.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta } })}\n`);
    await expect.poll(() => a.lines.some((l) => l.id === id), { timeout: 10_000 }).toBe(true);
    return a.lines.find((l) => l.id === id)!.result as Record<string, unknown>;
  };
  const { taskId } = await send('tools/call', { name: 'canary___write_task', arguments: {} });
  await expect.poll(async () => (await send('tasks/get', { taskId })).status, { timeout: 10_000 }).toBe('completed');
}

describe('the canary: no byte of a private server reaches an agent that may not read it', () => {
  let a: Agent | undefined;
  afterEach(async () => {
    await a?.close();
    a = undefined;
  });

  for (const [mode, era, whole] of [['strict'], ['filter'], ['strict', '2026'], ['filter', '2026'], ['filter', undefined, 'whole']] as const) {
    it(`${mode}${era ? `, a ${era} agent` : ''}${whole ? ', responses labeled with their call (label_response not asked)' : ''}: the marker is in no message the agent receives, on any path`, async () => {
      a = await agent(mode, undefined, era, whole === 'whole');
      await touchEverything(a, era);
      // The paths were taken: answers came back for each request (refusals included).
      expect(a.wire.length).toBeGreaterThan(10);
      const leaks = a.wire.filter((m) => m.includes(MARK));
      expect(leaks).toEqual([]);
      // A 2026 agent was given mcpg's task for the server's, and its result was withheld.
      if (era) expect(a.wire.some((m) => m.includes('"status":"completed"') && m.includes('mcpg made the write \\"write_task\\" on server \\"canary\\" but withheld its response'))).toBe(true);
      // The server asked; the agent was never shown what it asked.
      expect(a.answers).toEqual({ sampling: [], elicitation: [] });
      // The write was made, and the agent is told so.
      const write = await a.call('canary___write');
      expect(write.text).toMatch(/^mcpg made the write "write" on server "canary" but withheld its response/);
    });
  }

  it('filter: a JSON error the agent may not read becomes mcpg\'s own message with the audit id', async () => {
    a = await agent('filter');
    await expect(a.client.callTool({ name: 'canary___fail', arguments: {} })).resolves.toMatchObject({ isError: true });
    const r = await a.call('canary___fail');
    expect(r.text).toMatch(/^mcpg withheld the error server "canary" answered to "fail": the agent may not read it \(audit id \d+\)$/);
    const id = Number(/audit id (\d+)/.exec(r.text)![1]);
    expect(readAudit(a.audit).find((l) => l.id === id && l.stage === 'response')).toMatchObject({ decision: 'deny' });
  });

  it('propagate: reading taints; the write to a public sink is then refused, and so is the agent\'s answer to its sampling', async () => {
    let tainted = false;
    a = await agent('propagate', async () => {
      // While the sink waits for this answer, the agent reads the private server.
      if (!tainted) {
        tainted = true;
        await a!.call('canary___read');
      }
    });
    // Clean, the agent may write to the sink; the sink asks for sampling during that call.
    const sampled = await a.call('sink___sample');
    expect(sampled.text).toMatch(/^refused: MCP error -32600: mcpg refused sampling\/createMessage: the agent's answer may not flow to server "sink" \(audit id \d+\)$/);
    // The refusal names no tag of the agent's: the sink learns nothing of what was read.
    expect(sampled.text).not.toMatch(/canary/i);
    expect(a.answers.sampling).toHaveLength(1);
    // Reading showed the data, and tainted the agent: the sink refuses its writes now.
    const read = await a.call('canary___read');
    expect(read.raw).toMatchObject({ structuredContent: { secret: MARK } });
    const write = await a.call('sink___write');
    expect(write.isError).toBe(true);
    expect(write.text).toMatch(/^mcpg denied write of "write" on server "sink": the agent carries secrecy tags the resource does not accept: private:canary/);
  });

  it('propagate: a subscribed resource\'s update reaches the agent as its URI alone, once the agent may read it', async () => {
    a = await agent('propagate');
    const updates: unknown[] = [];
    a.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params));
    await a.client.subscribeResource({ uri: 'canary://doc' });
    await a.call('canary___touch');
    await expect.poll(() => updates).toEqual([{ uri: 'canary://doc' }]);
    expect(a.wire.filter((m) => m.includes('resources/updated')).join('')).not.toContain(MARK);
  });

  it('propagate: a response its guard labeled with the call is given with those labels, label_response not asked, and taints as any read', async () => {
    a = await agent('propagate', undefined, undefined, true);
    const read = await a.call('canary___read');
    expect(read.raw).toMatchObject({ structuredContent: { secret: MARK } });
    const write = await a.call('sink___write');
    expect(write.isError).toBe(true);
    expect(write.text).toMatch(/^mcpg denied write of "write" on server "sink": the agent carries secrecy tags the resource does not accept: private:canary/);
  });

  it('propagate: a server\'s request says which server asks, quoted so no server can forge mcpg\'s words; sampling takes no client context', async () => {
    a = await agent('propagate');
    await a.call('canary___elicit');
    await a.call('canary___sample');
    const shown = a.answers.elicitation[0] as { message: string };
    expect(shown.message).toBe(`Server "canary" asks (through mcpg; its words are quoted):\n> elicit ${MARK}`);
    expect(a.answers.sampling[0]).toMatchObject({ includeContext: 'none', systemPrompt: MARK });
  });
});

describe('the canary with a 2026 agent: the server\'s questions reach it as input_required, through the same choke point', () => {
  let a: Agent | undefined;
  afterEach(async () => {
    await a?.close();
    a = undefined;
  });

  it('propagate: reading taints; the write to a public sink is then refused, and so is the agent\'s answer to its sampling', async () => {
    let tainted = false;
    a = await agent(
      'propagate',
      async () => {
        if (!tainted) {
          tainted = true;
          await a!.call('canary___read');
        }
      },
      '2026',
    );
    const sampled = await a.call('sink___sample');
    expect(sampled.text).toMatch(/^refused: MCP error -32600: mcpg refused sampling\/createMessage: the agent's answer may not flow to server "sink" \(audit id \d+\)$/);
    expect(sampled.text).not.toMatch(/canary/i);
    expect(a.answers.sampling).toHaveLength(1);
    // The sink's question reached the agent as a round of its own request.
    expect(a.wire.some((m) => m.includes('"resultType":"input_required"') && m.includes('sampling/createMessage'))).toBe(true);
    const write = await a.call('sink___write');
    expect(write.isError).toBe(true);
    expect(write.text).toMatch(/^mcpg denied write of "write" on server "sink": the agent carries secrecy tags the resource does not accept: private:canary/);
  });

  it("propagate: a resource the agent listens to (resourceSubscriptions) is subscribed at the older server through its guard, and its update reaches the listen as its URI alone", async () => {
    a = await agent('propagate', undefined, '2026');
    const subscription = await a.client2026.listen({ resourceSubscriptions: ['canary://doc'] });
    expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: ['canary://doc'] });
    await a.call('canary___touch');
    await expect.poll(() => a!.wire.filter((m) => m.includes('notifications/resources/updated'))).toHaveLength(1);
    const update = JSON.parse(a.wire.find((m) => m.includes('notifications/resources/updated'))!) as { params: Record<string, unknown> };
    expect(update.params).toEqual({ uri: 'canary://doc', _meta: { 'io.modelcontextprotocol/subscriptionId': expect.anything() } });
    expect(JSON.stringify(update)).not.toContain(MARK);
    await subscription.close();
  });
});

// Asking the human on a violation: a write DIFC forbids is put to the person through the
// agent's client (MCP elicitation) when the server says on_violation = "ask".
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { writeSinkGuard } from '../../src/guard/builtin.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { inProcess } from '../helpers/in-process.ts';
import { fixtureServer, mcpg, readAudit, tempDir } from '../helpers/mcpg.ts';

/** Reads from "src" are private; "sink" is a public write sink. */
const guards = async (server: { name: string }): Promise<Guard> =>
  server.name === 'sink'
    ? writeSinkGuard('public-sink', { accept: [] })
    : {
        name: 'private-source',
        labelAgent: async () => ({ agent: { secrecy: [], integrity: [] } }),
        labelResource: async () => ({ resource: { description: 'private data', secrecy: ['private:octo/secret'], integrity: [] }, operation: 'read' }),
        labelResponse: async () => ({ kind: 'whole' }),
      };

async function session(answer: ((client: Client) => void) | undefined, gateway: object = {}) {
  const dir = tempDir();
  const audit = join(dir, 'audit.jsonl');
  const gw = await inProcess(
    { gateway: { mode: 'propagate', ...gateway }, mcpServers: { src: fixtureServer('tools.ts', 'src'), sink: { ...fixtureServer('tools.ts', 'sink'), on_violation: 'ask' } } },
    { makeGuard: guards, auditLog: audit, ...(answer && { capabilities: { elicitation: {} }, setup: answer }) },
  );
  // The agent reads private data: it is tainted, and the public sink then refuses its writes.
  await gw.call('src___echo', { text: 'secret roadmap' });
  const target = join(dir, 'effect');
  const r = await gw.call('sink___touch', { path: target });
  await gw.close();
  const line = readAudit(audit).filter((l) => l.tool === 'touch').pop()!;
  return { r, wrote: existsSync(target), line, audit };
}

const replying = (decision: string, seen: string[] = []) => (client: Client) =>
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    seen.push(String(req.params.message));
    return { action: 'accept', content: { decision } };
  });

describe('on_violation = "ask"', () => {
  it('"allow once": the write runs, the agent keeps its labels, the audit line says who allowed what', async () => {
    const seen: string[] = [];
    const { r, wrote, line } = await session(replying('allow once', seen));
    expect(r.isError).toBeFalsy();
    expect(wrote).toBe(true);
    expect(seen[0]).toMatch(/^The agent wants to call "touch" on server "sink" \(a write\)\. mcpg's information-flow policy forbids it: the agent carries secrecy tags the resource does not accept: private:octo\/secret\. The agent's labels: secrecy \[private:octo\/secret\]/);
    expect(line).toMatchObject({ decision: 'allow', approval: { answer: 'allow', by: 'client', shown: seen[0] }, agent_after: { secrecy: ['private:octo/secret'] } });
  });

  it('"deny": the write is denied as it would be without asking', async () => {
    const { r, wrote, line } = await session(replying('deny'));
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/mcpg denied write of "touch" on server "sink"/);
    expect(wrote).toBe(false);
    expect(line).toMatchObject({ decision: 'deny', approval: { answer: 'deny' } });
  });

  it('a client without elicitation: denied, and the audit line says it could not ask', async () => {
    const { r, wrote, line } = await session(undefined);
    expect(r.isError).toBe(true);
    expect(wrote).toBe(false);
    expect(line).toMatchObject({ decision: 'deny', approval: { answer: 'unsupported' } });
  });

  it('no answer within ask_timeout: denied', async () => {
    const never = (client: Client) => client.setRequestHandler(ElicitRequestSchema, () => new Promise(() => {}));
    const { r, wrote, line } = await session(never, { ask_timeout: 0.3 });
    expect(r.isError).toBe(true);
    expect(wrote).toBe(false);
    expect(line).toMatchObject({ decision: 'deny', approval: { answer: 'timeout' } });
  });
});

describe('mcpg explain', () => {
  it('says why the write was denied, where the blocking tag came from, what would let it pass, and the human\'s answer', async () => {
    const { audit } = await session(replying('deny'));
    const r = mcpg(['explain', '--audit-log', audit]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^call 2 at \S+: tools\/call touch on server "sink" — deny$/m);
    expect(r.stdout).toContain('the agent then carried secrecy private:octo/secret, integrity none');
    expect(r.stdout).toMatch(/^ {2}private:octo\/secret: from call 1, echo on server "src" at /m);
    expect(r.stdout).toMatch(/^asked the human \(client, \S+\): deny; shown: "The agent wants to call "touch"/m);
    expect(r.stdout).toMatch(/^ {2}- let server "sink" accept private:octo\/secret \(its write-sink accept list\), or do not read data labeled private:octo\/secret before this write/m);
    const json = JSON.parse(mcpg(['explain', '--audit-log', audit, '--id', '1', '--json']).stdout) as { call: string; decision: string; fixes: string[] };
    expect(json).toMatchObject({ call: 'tools/call echo on server "src"', decision: 'allow', fixes: [] });
    expect(mcpg(['explain', '--audit-log', audit, '--id', '9']).stderr.trim()).toBe('mcpg: the audit log holds no call with id 9');
  });
});

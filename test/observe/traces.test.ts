// OpenTelemetry traces of mcpg serve, sent over OTLP/HTTP to a receiver in this test that decodes
// them: one span per call in the agent's trace (its _meta.traceparent), the decision and labels as
// attributes, the guard's labeling and the server's request as child spans, and the trace
// context passed on to the server in its request's _meta.
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, loadConfig } from '../../src/config/load.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { type Served, serve } from '../../src/http/serve.ts';
import { configureLog } from '../../src/shared/log.ts';
import { fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

configureLog({ level: 'error', writer: () => {} });
const TOKEN = 'trace-agent-token-0123456789';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

type Value = { stringValue?: string; intValue?: string | number; arrayValue?: { values: Value[] } };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Value }[];
}
const plain = (v: Value): unknown => (v.arrayValue ? v.arrayValue.values.map(plain) : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined)));
const attrs = (s: OtlpSpan) => Object.fromEntries(s.attributes.map((a) => [a.key, plain(a.value)]));

/** Everything of the notes server is private; reading it taints the agent (propagate). */
const notesGuard = (): Guard => ({
  name: 'notes-guard',
  labelAgent: async () => ({ agent: { secrecy: [], integrity: [] } }),
  labelResource: async () => ({ resource: { description: 'notes', secrecy: ['private:notes'], integrity: [] }, operation: 'read' }),
  labelResponse: async () => ({ kind: 'whole' }),
});

describe('OpenTelemetry traces', () => {
  const received: OtlpSpan[] = [];
  let receiver: ReturnType<typeof createServer>;
  let served: Served;
  beforeAll(async () => {
    receiver = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      if (req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const file = writeConfig(tempDir(), { gateway: { mode: 'propagate', agents: { tracer: TOKEN }, opentelemetry: { endpoint } }, mcpServers: { notes: fixtureServer('tools.ts', 'notes') } });
    served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', makeGuard: async (s: Server) => (s.name === 'notes' ? notesGuard() : noopGuard()) });
  });
  afterAll(async () => {
    await served?.close();
    receiver?.close();
  });

  it("continues the agent's trace: the call's span with its decision and labels, the guard and the server as children, the context passed to the server", async () => {
    const res = await fetch(`${served.url}/mcp/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: TOKEN, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'meta' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'meta',
          arguments: {},
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
            traceparent: `00-${TRACE}-${PARENT}-01`,
          },
        },
      }),
    });
    const answer = (await res.json()) as { result: { content: { text: string }[] } };
    const serverMeta = JSON.parse(answer.result.content[0]!.text) as { traceparent?: string };
    // Flushed at shutdown.
    await served.close();
    const call = received.find((s) => s.name === 'tools/call meta')!;
    expect(call).toBeDefined();
    expect([call.traceId, call.parentSpanId]).toEqual([TRACE, PARENT]);
    expect(attrs(call)).toMatchObject({
      'mcpg.server': 'notes',
      'mcpg.tool': 'meta',
      'mcpg.agent': 'tracer',
      'mcpg.decision': 'allow',
      'mcpg.operation': 'read',
      'mcpg.resource.secrecy': ['private:notes'],
      'mcpg.agent.secrecy': ['private:notes'],
      'mcpg.outcome': 'result',
    });
    const children = received.filter((s) => s.parentSpanId === call.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['label_resource notes-guard', 'label_response notes-guard', 'tools/call notes']);
    const backend = children.find((s) => s.name === 'tools/call notes')!;
    // The server was given the trace, as the child span of mcpg's request to it.
    expect(serverMeta.traceparent).toBe(`00-${TRACE}-${backend.spanId}-01`);
  });
});

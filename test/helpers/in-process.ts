// The gateway in this process: its stdin and stdout are in-memory streams, its log a string;
// its backends are still real servers in child processes. Milliseconds per test, not a spawn.
import { PassThrough } from 'node:stream';
import { Client as Client2026 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { type Server, loadConfig } from '../../src/config/load.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { type Served, serveStdio } from '../../src/proxy/session.ts';
import { LineTransport } from '../../src/proxy/stdio.ts';
import { configureLog } from '../../src/shared/log.ts';
import type { ServerPins } from '../../src/supply/lock.ts';
import { tempDir, writeConfig } from './mcpg.ts';

export interface InProcess {
  /** The agent: the MCP SDK 1.x client (the 2025 era), unless the test asked for a 2026 agent. */
  client: Client;
  /** The 2026 agent (`era: '2026'`): the SDK v2 client, pinned to 2026-07-28. */
  client2026: Client2026;
  call(name: string, args?: Record<string, unknown>): Promise<{ isError?: boolean; text: string; raw: Record<string, unknown> }>;
  gateway: Served;
  /** Writes raw bytes to the gateway's stdin, as a client that is not the SDK would. */
  write(data: string | Buffer): void;
  /** Lines the gateway wrote to its stdout that the SDK client did not expect (raw answers). */
  lines: Record<string, unknown>[];
  log: () => string;
  close(): Promise<void>;
}

let logged = '';
configureLog({ level: 'debug', writer: (line) => (logged += line) });

export async function inProcess(
  config: object,
  options: {
    capabilities?: ClientCapabilities;
    makeGuard?: (server: Server) => Promise<Guard>;
    setup?: (client: Client) => void;
    /** A 2026 agent instead, set up by `setup2026`. */
    era?: '2026';
    setup2026?: (client: Client2026) => void;
    pins?: Record<string, ServerPins>;
    auditLog?: string;
  } = {},
): Promise<InProcess> {
  const toGateway = new PassThrough();
  const fromGateway = new PassThrough();
  logged = '';
  const file = writeConfig(tempDir(), config);
  const starting = serveStdio({
    config: loadConfig(file),
    input: toGateway,
    output: fromGateway,
    makeGuard: options.makeGuard ?? (async () => noopGuard()),
    pins: options.pins,
    auditLog: options.auditLog,
  });
  // A gateway that fails to start says so to the agent's initialize (below), which throws.
  starting.catch(() => {});
  const client = new Client({ name: 'in-process-agent', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
  const client2026 = new Client2026({ name: 'in-process-agent', version: '1.0.0' }, { capabilities: (options.capabilities ?? {}) as never, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  options.setup?.(client);
  options.setup2026?.(client2026);
  const transport = new LineTransport(fromGateway, toGateway, { maxBytes: 256 * 1024 * 1024 });
  const lines: Record<string, unknown>[] = [];
  if (options.era === '2026') await client2026.connect(transport as never);
  else await client.connect(transport);
  const sdk = transport.onmessage!;
  // Answers to requests the test wrote by hand are kept here; the rest go to the SDK client.
  transport.onmessage = (m) => {
    const id = (m as { id?: unknown }).id;
    if (typeof id === 'string' && id.startsWith('raw-')) lines.push(m as Record<string, unknown>);
    else if (id === null) lines.push(m as Record<string, unknown>);
    else sdk(m);
  };
  const gateway = await starting;
  return {
    client,
    client2026,
    call: async (name, args = {}) => {
      const raw = (
        options.era === '2026' ? await client2026.callTool({ name, arguments: args }) : await client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema)
      ) as Record<string, unknown>;
      const content = (raw.content as { type: string; text?: string }[]) ?? [];
      return { isError: raw.isError as boolean | undefined, text: content.map((c) => c.text ?? '').join('\n'), raw };
    },
    gateway,
    write: (data) => toGateway.write(data),
    lines,
    log: () => logged,
    close: async () => {
      await (options.era === '2026' ? client2026 : client).close();
      toGateway.end();
      await gateway.closed;
    },
  };
}

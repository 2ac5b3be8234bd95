import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'test/fixtures');

/** How to start mcpg: the binary when MCPG_BIN names one, else the bundle on this Node. */
export function mcpgCommand(): { command: string; args: string[] } {
  const bin = process.env.MCPG_BIN;
  return bin ? { command: resolve(bin), args: [] } : { command: process.execPath, args: [join(ROOT, 'dist/mcpg.cjs')] };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mcpg-test-'));
}

/** A stdio server entry running a fixture server on this Node. */
export function fixtureServer(file: string, ...args: string[]) {
  return { command: process.execPath, args: [join(FIXTURES, 'servers', file), ...args] };
}

export function writeConfig(dir: string, config: object | string, name = 'mcpg.json'): string {
  const file = join(dir, name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

/** Runs an mcpg command to completion. */
export function mcpg(args: string[], env: NodeJS.ProcessEnv = {}) {
  const { command, args: pre } = mcpgCommand();
  const r = spawnSync(command, [...pre, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs an mcpg command without blocking this process (its servers keep answering). */
export function mcpgAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: pre } = mcpgCommand();
  const child = spawn(command, [...pre, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * `mcpg run` with an agent that sends initialize and keeps its end open, until mcpg exits: for
 * start-up failures (mcpg starts its servers once the agent has said who it is).
 */
export function mcpgRun(configFile: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args } = mcpgCommand();
  const child = spawn(command, [...args, 'run', '--config', configFile, ...extra], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {});
  child.stdin.write(`${JSON.stringify(INITIALIZE)}\n`);
  const timer = setTimeout(() => child.kill(), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

export interface Session {
  client: Client;
  stderr: () => string;
  call(name: string, args?: Record<string, unknown>): Promise<{ isError?: boolean; text: string; raw: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** `mcpg run` as a child process, with the SDK's stdio client as the agent. */
export async function startGateway(configFile: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Session> {
  const { command, args } = mcpgCommand();
  const transport = new StdioClientTransport({
    command,
    args: [...args, 'run', '--config', configFile, ...extra],
    env: { ...(process.env as Record<string, string>), ...env },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (e) {
    await new Promise((r) => setTimeout(r, 100));
    throw new Error(`gateway did not start: ${String(e)}\n${err}`);
  }
  return {
    client,
    stderr: () => err,
    async call(name, a = {}) {
      const raw = (await client.request({ method: 'tools/call', params: { name, arguments: a } }, CallToolResultSchema)) as Record<string, unknown>;
      const content = (raw.content as { type: string; text?: string }[]) ?? [];
      return { isError: raw.isError as boolean | undefined, text: content.map((c) => c.text ?? '').join('\n'), raw };
    },
    close: () => client.close(),
  };
}

export interface RawSession {
  /** Every stdout line as written, and the ones that parsed as JSON. */
  raw: string[];
  messages: Record<string, unknown>[];
  stderr: () => string;
  send(message: object | string | Buffer): void;
  /** Resolves with the answer to request `id`. */
  answer(id: unknown): Promise<Record<string, unknown>>;
  close(): void;
}

/** `mcpg run` driven line by line on its stdio, for what an SDK client would not send. */
export function rawGateway(configFile: string, extra: string[] = []): RawSession {
  const { command, args } = mcpgCommand();
  const child = spawn(command, [...args, 'run', '--config', configFile, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  const raw: string[] = [];
  const messages: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      raw.push(p);
      try {
        messages.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        // kept in `raw` for the test to see
      }
    }
  });
  return {
    raw,
    messages,
    stderr: () => err,
    send: (m) => child.stdin.write(typeof m === 'string' || Buffer.isBuffer(m) ? m : `${JSON.stringify(m)}\n`),
    answer: async (id) => {
      for (let i = 0; i < 600; i++) {
        const found = messages.find((m) => m.id === id && ('result' in m || 'error' in m));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no answer to request ${String(id)}\n${err}`);
    },
    close: () => void child.kill(),
  };
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-test', version: '1' } },
};

export function readAudit(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The last audit line of each call (its outcome), in call order. */
export function readDecisions(file: string): Record<string, unknown>[] {
  const last = new Map<unknown, Record<string, unknown>>();
  for (const line of readAudit(file)) last.set(line.id, line);
  return [...last.values()];
}

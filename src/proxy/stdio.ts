import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { type Id, LocalError, RPC } from './router.ts';

/** What send() answers when the line is written at once: one settled promise for all. */
const SENT = Promise.resolve();

/** What is kept of a line too long to read, to find the id it carries. */
const SNIFF = 512;

export function mib(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}

/**
 * Newline-delimited JSON-RPC over a pair of streams, bounded while it reads: a line longer than
 * `maxBytes` is discarded as it arrives (in linear time, holding at most `maxBytes`), and the
 * connection goes on with the next line. Messages are parsed, not schema-checked: the router
 * dispatches them and mcpg checks what it uses where it uses it.
 */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** A line over the limit was discarded; `id` is the request id it seemed to carry. */
  onoversize?: (id: Id | undefined, limit: string) => void;
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #maxBytes: number;
  readonly #parts: Buffer[] = [];
  #length = 0;
  /** While a line is over the limit: its first and last bytes, to find its id. */
  #discarding?: { head: Buffer; tail: Buffer };
  #closed = false;
  /** The lines sent in this turn of the event loop, not yet written. */
  #queued?: string;
  readonly #waiting = new Set<{ resolve: () => void; reject: (e: Error) => void }>();

  constructor(input: Readable, output: Writable, options: { maxBytes: number }) {
    this.#input = input;
    this.#output = output;
    this.#maxBytes = options.maxBytes;
  }

  async start(): Promise<void> {
    this.#input.on('data', this.#onData);
    this.#input.on('error', this.#onError);
    this.#input.once('end', () => void this.close());
    this.#output.on('error', this.#onError);
    this.#output.on('drain', this.#onDrain);
  }

  /** Bytes held for the line being read: at most maxBytes, plus what is kept of one being discarded. */
  get buffered(): number {
    return this.#length + (this.#discarding ? this.#discarding.head.length + this.#discarding.tail.length : 0);
  }

  #onError = (error: Error) => this.onerror?.(error);

  /** Writes the lines queued in this turn now (before the stream is ended, say). */
  flush = (): void => {
    const lines = this.#queued;
    if (lines === undefined) return;
    this.#queued = undefined;
    // Under the stream's mark after all: no 'drain' will come for those who wait.
    if (this.#output.write(lines)) this.#onDrain();
  };

  #onDrain = () => {
    for (const w of this.#waiting) w.resolve();
    this.#waiting.clear();
  };

  #onData = (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      // A line whole in this chunk, within the limit, is decoded from it as it is (no view of it).
      if (this.#length === 0 && !this.#discarding && nl - start <= this.#maxBytes) this.#line(data.toString('utf8', start, nl));
      else {
        this.#take(data.subarray(start, nl));
        this.#endLine();
      }
      start = nl + 1;
    }
    if (start < data.length) this.#take(start === 0 ? data : data.subarray(start));
  };

  #take(part: Buffer): void {
    if (!part.length) return;
    // Copies, not views: a view would keep the discarded chunk (or line) alive.
    if (this.#discarding) {
      const d = this.#discarding;
      d.tail = Buffer.from(part.length >= SNIFF ? part.subarray(-SNIFF) : Buffer.concat([d.tail, part]).subarray(-SNIFF));
      return;
    }
    if (this.#length + part.length <= this.#maxBytes) {
      this.#parts.push(part);
      this.#length += part.length;
      return;
    }
    const first = this.#parts[0] ?? part;
    const head = Buffer.from((first.length >= SNIFF ? first : Buffer.concat([...this.#parts, part])).subarray(0, SNIFF));
    this.#discarding = { head, tail: Buffer.from(part.subarray(-SNIFF)) };
    this.#parts.length = 0;
    this.#length = 0;
  }

  #endLine(): void {
    if (this.#discarding) {
      const { head, tail } = this.#discarding;
      this.#discarding = undefined;
      this.onoversize?.(sniffId(head.toString('latin1'), tail.toString('latin1')), mib(this.#maxBytes));
      return;
    }
    const line = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts.length = 0;
    this.#length = 0;
    this.#line(line.toString('utf8'));
  }

  /**
   * One line, decoded. Invalid UTF-8 reads as U+FFFD, as JSON text must be UTF-8. A CR before
   * the LF is JSON whitespace, as is any around the message; a blank line is skipped.
   */
  #line(text: string): void {
    if (/^\s*$/.test(text)) return;
    let message: unknown;
    try {
      message = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (err) {
      this.onerror?.(err as Error);
      // JSON-RPC: a parse error is answered with id null.
      void this.send({ jsonrpc: '2.0', id: null, error: { code: RPC.parseError, message: 'Parse error' } } as unknown as JSONRPCMessage).catch(() => {});
      return;
    }
    this.onmessage?.(message as JSONRPCMessage);
  }

  /** Resolves once written (or buffered under the stream's high-water mark); rejects on close. */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new LocalError(RPC.connectionClosed, 'the connection is closed'));
    let line: string;
    try {
      line = `${JSON.stringify(message)}\n`;
    } catch (err) {
      return Promise.reject(new LocalError(RPC.internalError, `the message cannot be encoded: ${(err as Error).message}`));
    }
    // The lines sent in one turn of the event loop leave as one string in one write: under many
    // callers, one system call for all the answers (or requests) made of what one read brought,
    // and one chunk for the stream rather than one a line (corking the stream measured more).
    if (this.#queued === undefined) {
      this.#queued = line;
      process.nextTick(this.flush);
    } else this.#queued += line;
    // Past the stream's high-water mark (what it holds and what is queued), the sender waits for 'drain'.
    if (this.#output.writableLength + this.#queued.length < this.#output.writableHighWaterMark) return SENT;
    return new Promise((resolve, reject) => this.#waiting.add({ resolve, reject }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#input.off('data', this.#onData);
    const closed = new LocalError(RPC.connectionClosed, 'the connection closed before the message was written');
    for (const w of this.#waiting) w.reject(closed);
    this.#waiting.clear();
    this.onclose?.();
  }
}

/** The id of a JSON-RPC message from its first and last bytes (SDKs write it first or last). */
export function sniffId(head: string, tail: string): Id | undefined {
  const value = (s: string | undefined) => (s === undefined ? undefined : s.startsWith('"') ? (JSON.parse(s) as string) : Number(s));
  const first = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})/.exec(head);
  if (first) return value(first[1]);
  const last = /[,{]\s*"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*\r?$/.exec(tail);
  return value(last?.[1]);
}

/**
 * The environment a server inherits from mcpg's, before what its config adds: the variables the
 * MCP SDK's stdio transport passes (sudo's list: a test holds them equal), never a shell function.
 */
const INHERITED = process.platform === 'win32'
  ? ['APPDATA', 'HOMEDRIVE', 'HOMEPATH', 'LOCALAPPDATA', 'PATH', 'PROCESSOR_ARCHITECTURE', 'SYSTEMDRIVE', 'SYSTEMROOT', 'TEMP', 'USERNAME', 'USERPROFILE', 'PROGRAMFILES']
  : ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'];

export function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED) {
    const value = process.env[key];
    if (value !== undefined && !value.startsWith('()')) env[key] = value;
  }
  return env;
}

/**
 * A backend MCP server as a child process in its own process group, so that closing it ends
 * whatever it started too: close its stdin, then SIGTERM the group, then SIGKILL it, with a
 * grace period between (the MCP SDK's orderly shutdown, applied to the whole group).
 */
export class ChildTransport extends LineTransport {
  readonly child: ChildProcess;
  readonly #exited: Promise<void>;
  /** Listened for from the first moment: start() may come later than the event does. */
  readonly #spawned: Promise<void>;
  readonly #graceMs: number;

  constructor(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; maxBytes: number; graceMs?: number }) {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true, detached: true });
    super(child.stdout!, child.stdin!, { maxBytes: options.maxBytes });
    this.child = child;
    this.#graceMs = options.graceMs ?? 2000;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    this.#spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.#spawned.catch(() => {}); // start() reports it
    // Writing to a child that has exited fails with EPIPE: the close that follows reports it.
    child.stdin!.on('error', () => {});
  }

  override async start(): Promise<void> {
    await this.#spawned;
    this.child.on('error', (e) => this.onerror?.(e));
    void this.#exited.then(() => void super.close());
    await super.start();
  }

  override async close(): Promise<void> {
    const wait = (ms: number) => Promise.race([this.#exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-this.child.pid!, signal);
      } catch {
        // the group is gone already
      }
    };
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      this.flush();
      this.child.stdin?.end();
      if (!(await wait(this.#graceMs))) {
        group('SIGTERM');
        if (!(await wait(this.#graceMs))) group('SIGKILL');
      }
    }
    await super.close();
  }
}

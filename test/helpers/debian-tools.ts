// Debian's own servers for the replica tests: redis-server and haproxy. The machine's when on
// PATH, else unpacked from Debian's packages (with the libraries they need that the machine
// lacks) into .cache/<name>, run with those libraries: no system change, no service started.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fetchDebian } from '../../scripts/debian.mjs';
import { ROOT, tempDir } from './mcpg.ts';

function codename(): string {
  try {
    return /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  } catch {
    return 'bookworm';
  }
}

/** A Debian program: its path and the environment it runs in. */
function debianProgram(pkg: string, file: string): { bin: string; env: NodeJS.ProcessEnv } {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, file.split('/').at(-1)!))) return { bin: join(dir, file.split('/').at(-1)!), env: process.env };
  }
  const base = join(ROOT, '.cache', pkg);
  const bin = join(base, 'root', file);
  if (!existsSync(bin)) fetchDebian({ base, suite: codename(), packages: [pkg], dependencies: true, what: `${pkg} for the replica tests` });
  const libs = join(base, 'root/usr/lib/x86_64-linux-gnu');
  return { bin, env: { ...process.env, LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } };
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestRedis {
  url: string;
  /** Stops it (SIGTERM: the append-only file is complete) or starts it again on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Runs redis-cli against it. */
  cli(...args: string[]): string;
}

/** redis-server on 127.0.0.1 with its data in an append-only file (AOF, fsync always), as the README asks of a deployment. */
export async function redis(): Promise<TestRedis> {
  const server = debianProgram('redis-server', 'usr/bin/redis-server');
  const cli = debianProgram('redis-server', 'usr/bin/redis-cli');
  const dir = tempDir();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const ping = () => {
    try {
      return cliRun('ping') === 'PONG';
    } catch {
      return false;
    }
  };
  const cliRun = (...args: string[]) => execFileSync(cli.bin, ['-p', String(port), ...args], { env: cli.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const start = async () => {
    child = spawn(server.bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], { env: server.env, stdio: 'ignore' });
    await until('redis-server answering', ping);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    cli: cliRun,
    start,
    stop: async () => {
      const c = child;
      if (!c || c.exitCode !== null) return;
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    },
  };
}

export interface TestHaproxy {
  url: string;
  stop(): Promise<void>;
}

/**
 * haproxy in front of mcpg replicas: round robin, a replica taken out as soon as its /health
 * fails (checked every 100 ms), requests sent with the Host the replicas serve (`domain`).
 */
export async function haproxy(backends: number[], domain: string): Promise<TestHaproxy> {
  const { bin, env } = debianProgram('haproxy', 'usr/sbin/haproxy');
  const port = await freePort();
  const cfg = join(tempDir(), 'haproxy.cfg');
  writeFileSync(cfg, exampleConfig({ listen: `127.0.0.1:${port}`, domain, replicas: backends.map((p) => `127.0.0.1:${p}`), checkMs: 100 }));
  const child = spawn(bin, ['-f', cfg, '-db'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await until('haproxy listening', async () => (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false)));
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** examples/haproxy.cfg, filled in. */
function exampleConfig(v: { listen: string; domain: string; replicas: string[]; checkMs: number }): string {
  const template = readFileSync(join(ROOT, 'examples/haproxy.cfg'), 'utf8');
  const servers = v.replicas.map((r, i) => `    server mcpg${i + 1} ${r} check inter ${v.checkMs} fall 2 rise 1`).join('\n');
  return template
    .replace(/^(\s*bind )\S+/m, `$1${v.listen}`)
    .replaceAll('mcpg.example.com', v.domain)
    .replace(/^\s*server mcpg1 .*\n(?:\s*server mcpg\d .*\n?)*/m, `${servers}\n`)
    .replace(/^\s*daemon\s*$/m, '');
}

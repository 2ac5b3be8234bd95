import { type ChildProcess, spawn } from 'node:child_process';
import { type Read, readsTheSame } from '../shared/files.ts';
import { type ThisRun, runKey, thisRun } from '../shared/this-run.ts';
import { Cache } from '../supply/cache.ts';

/**
 * `mcpg run` starts its stdio servers before its bundle loads, from the start plan of its last
 * run: servers take hundreds of milliseconds to start, and the gateway's own start (reading,
 * compiling and running its bundle, checking the config) need not come first when nothing that
 * decides what to start has changed. The plan is trusted only as far as the run it came from
 * could be repeated, as a kept verify verdict is (src/supply/verify-verdict.ts):
 * - it is keyed by the build, the command line, the working directory and the whole environment
 *   (src/shared/this-run.ts);
 * - it lists every file that run read before it started its servers (the config, guards.lock),
 *   with what it found; each is read again first, and one that differs starts nothing early;
 * - it is sealed, and encrypted since it holds the servers' environments (src/supply/cache.ts).
 * So an early server is one the same config, checked by the same code, would start at once. The
 * gateway then takes each process it would spawn from those started early, by the exact command,
 * arguments, environment and directory; one it does not take is ended.
 */
const KIND = 'mcpg-start-plan/1';

/** How mcpg starts a stdio server: everything spawn is given. */
export interface ServerSpawn {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

interface Plan {
  reads: Read[];
  servers: ServerSpawn[];
}

/** A server in its own process group, so that ending it ends whatever it started too (see ChildTransport). */
export function spawnServer(s: ServerSpawn): ChildProcess {
  return spawn(s.command, s.args, { env: s.env, cwd: s.cwd, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true, detached: true });
}

/** What was started early. src/sea.ts and the bundle each hold a copy of this module: they meet here. */
interface Early {
  /** The plan, as kept: a run that starts the same servers keeps it again only when it differs. */
  plan: string;
  waiting: { key: string; child: ChildProcess }[];
}
const EARLY = Symbol.for('mcpg.earlyServers');
const early = (): Early | undefined => (globalThis as { [EARLY]?: Early })[EARLY];

const spawnKey = (s: ServerSpawn) => JSON.stringify([s.command, s.args, Object.entries(s.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), s.cwd ?? null]);

export function keepStartPlan(cache: Cache, run: ThisRun, reads: Read[], servers: ServerSpawn[]): void {
  const plan = JSON.stringify({ reads, servers } satisfies Plan);
  if (plan !== early()?.plan) cache.keepPrivate(runKey(KIND, run), Buffer.from(plan));
}

/** The servers to start for this run, if a plan is kept for it and every file it read reads the same. */
export function keptStartPlan(cache: Cache, run: ThisRun): { servers: ServerSpawn[]; plan: string } | undefined {
  const kept = cache.keptPrivate(runKey(KIND, run));
  if (!kept) return undefined;
  const plan = Buffer.from(kept).toString('utf8');
  const { reads, servers } = JSON.parse(plan) as Plan;
  return reads.every(readsTheSame) ? { servers, plan } : undefined;
}

/**
 * Called by src/sea.ts before the bundle loads: starts the servers of `mcpg run`'s kept plan.
 * Any doubt (no plan, a file changed, a fault reading) starts none: the gateway starts them.
 */
export function startEarly(argv: string[]): void {
  if (argv[0] !== 'run') return;
  try {
    const run = thisRun(argv);
    const kept = run && keptStartPlan(new Cache(), run);
    if (!kept) return;
    const started: Early = { plan: kept.plan, waiting: [] };
    (globalThis as { [EARLY]?: Early })[EARLY] = started;
    for (const s of kept.servers) {
      const entry = { key: spawnKey(s), child: spawnServer(s) };
      // One that cannot start is the gateway's to start and report (it fails the same way).
      entry.child.once('error', () => {
        const at = started.waiting.indexOf(entry);
        if (at >= 0) started.waiting.splice(at, 1);
      });
      started.waiting.push(entry);
    }
    process.once('exit', endEarly);
  } catch {
    // A plan that cannot be read is no plan.
  }
}

/** The process started early for this spawn, if there is one (taken once). */
export function takeEarly(s: ServerSpawn): ChildProcess | undefined {
  const waiting = early()?.waiting;
  const at = waiting?.findIndex((e) => e.key === spawnKey(s)) ?? -1;
  return at < 0 ? undefined : waiting!.splice(at, 1)[0]!.child;
}

/** Ends the servers started early that the gateway did not take (its config asked for others). */
export function endEarly(): void {
  const waiting = early()?.waiting ?? [];
  for (const { child } of waiting.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // Gone already.
    }
  }
}

import { out } from '../cli/output.ts';
import { seaBuildId } from '../shared/code-cache.ts';
import { type Read, readsTheSame } from '../shared/files.ts';
import { Cache } from './cache.ts';

/**
 * The verdict of a whole `guard verify --offline` that passed, kept so that running it again
 * with nothing changed answers at once (`mcpg guard verify` runs before every push and in every
 * editor hook). It is trusted only as far as the run it stands for could be repeated:
 * - it is keyed by everything the run was given besides files: the build of mcpg, its command
 *   line, its working directory and its whole environment;
 * - it lists every file the run read (src/shared/files.ts witnesses them) with the sha256 of
 *   what it found, or that it found none; each is read again, and one that differs (a config,
 *   guards.lock, a cached guard or bundle, a trusted root) sends the command the whole way;
 * - it is sealed like every derived entry (src/supply/cache.ts): one this machine's mcpg did not
 *   write is not trusted;
 * - a run that reached the network, warned, or found problems keeps none.
 * Only the single executable keeps one: its build id names the code that reached the verdict.
 */
const KIND = 'mcpg-verify-run/1';

/** Everything a verify run was given besides the files it read. */
export interface VerifyRun {
  build: string;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** What the verdict rests on, and what the run printed. */
interface Verdict {
  reads: Read[];
  output: string;
}

/** This process's run, where a verdict can be kept for it (in the single executable). */
export function thisRun(argv: string[]): VerifyRun | undefined {
  const build = seaBuildId();
  return build ? { build, argv, cwd: process.cwd(), env: process.env } : undefined;
}

function keyOf(run: VerifyRun): string {
  const env = Object.entries(run.env)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([KIND, run.build, run.argv, run.cwd, env]);
}

export function keepVerdict(cache: Cache, run: VerifyRun, reads: Read[], output: string): void {
  cache.keep(keyOf(run), Buffer.from(JSON.stringify({ reads, output } satisfies Verdict)));
}

/** What the run printed when it passed, if a verdict is kept for it and every file it read reads the same. */
export function keptVerdict(cache: Cache, run: VerifyRun): string | undefined {
  const sealed = cache.kept(keyOf(run));
  if (!sealed) return undefined;
  const { reads, output } = JSON.parse(Buffer.from(sealed).toString('utf8')) as Verdict;
  return reads.every(readsTheSame) ? output : undefined;
}

/**
 * `mcpg guard verify ... --offline` answered from its kept verdict, before the gateway's bundle
 * is loaded (src/sea.ts): true when it was. Any doubt (no verdict, a file changed, a fault
 * reading) answers false, and the command runs the whole way.
 */
export function answeredVerify(argv: string[]): boolean {
  if (argv[0] !== 'guard' || argv[1] !== 'verify' || !argv.includes('--offline')) return false;
  try {
    const run = thisRun(argv);
    const output = run && keptVerdict(new Cache(), run);
    if (output === undefined) return false;
    out(output);
    return true;
  } catch {
    return false;
  }
}

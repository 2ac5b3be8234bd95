import { seaBuildId } from './code-cache.ts';

/**
 * Everything a command was given besides the files it read: what an outcome kept from one run
 * (a verify verdict, a start plan) is keyed by, so that it stands only for the same run again.
 * Only the single executable keeps any: its build id names the code that reached the outcome.
 */
export interface ThisRun {
  build: string;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** This process's run, where an outcome can be kept for it (in the single executable). */
export function thisRun(argv: string[]): ThisRun | undefined {
  const build = seaBuildId();
  return build ? { build, argv, cwd: process.cwd(), env: process.env } : undefined;
}

/** The cache key of what a run of `kind` keeps: the build, the command line, the working directory and the whole environment. */
export function runKey(kind: string, run: ThisRun): string {
  const env = Object.entries(run.env)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([kind, run.build, run.argv, run.cwd, env]);
}

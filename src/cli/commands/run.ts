import type { CommandModule, Options } from 'yargs';
import { loadConfig } from '../../config/load.ts';
import { witnessReads } from '../../shared/files.ts';
import { thisRun } from '../../shared/this-run.ts';
import { Cache } from '../../supply/cache.ts';
import { MODES, type Mode } from '../../config/schema.ts';
import { LEVELS, type Level, configureLog } from '../../shared/log.ts';
import { exitWithCode } from '../exit.ts';
import { note } from '../output.ts';
import { SUPPLY_OPTIONS, type SupplyArgs, supplyFrom } from '../supply-options.ts';

interface Args extends SupplyArgs {
  mode?: Mode;
  'audit-log'?: string;
  'log-level': Level;
  'log-file'?: string;
}

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'Serve MCP on stdin/stdout in front of the configured servers',
  // A table, not a function: the CLI parses `run` without yargs when it can (see quickArgs).
  builder: {
    ...SUPPLY_OPTIONS,
    mode: { type: 'string', choices: MODES, describe: 'DIFC mode, overriding [gateway] mode' },
    'audit-log': { type: 'string', describe: 'append one JSON line per DIFC decision to this file' },
    'log-level': { type: 'string', choices: LEVELS, default: 'info' satisfies Level, describe: 'diagnostics threshold' },
    'log-file': { type: 'string', describe: 'write diagnostics here instead of stderr' },
  } satisfies Record<string, Options>,
  handler: async (args) => {
    configureLog({ level: args['log-level'], file: args['log-file'] });
    // The gateway (and the MCP SDK) load only for `run`.
    const [{ GuardFactory }, { serveStdio }, { serverSpawn }, { keepStartPlan }] = await Promise.all([
      import('../../guard/load.ts'),
      import('../../proxy/session.ts'),
      import('../../proxy/backend.ts'),
      import('../../proxy/early-start.ts'),
    ]);
    // What decides which servers start is read witnessed: the next run with all of it unchanged
    // starts them before its bundle loads (src/proxy/early-start.ts).
    const run = thisRun(process.argv.slice(2));
    const { value: config, reads } = await witnessReads(async () => loadConfig(args.config));
    for (const w of config.warnings) note(`mcpg: warning: ${w}`);
    const supply = supplyFrom(args, config);
    const guards = new GuardFactory(config.guards, (cfg) => supply.guardBytes(cfg), (key, make) => supply.cache.derived(key, make));
    // A signal ends mcpg and every server it started, at any moment, start-up included.
    const stop = new AbortController();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort(signal));
    const served = await serveStdio({
      config,
      input: process.stdin,
      output: process.stdout,
      mode: args.mode,
      auditLog: args['audit-log'],
      makeGuard: (server) => guards.make(server),
      signal: stop.signal,
      pins: supply.lock.tools,
    });
    const servers = config.servers.flatMap((s) => ('command' in s ? [serverSpawn(s)] : []));
    if (run && reads && servers.length) keepStartPlan(new Cache(), run, reads, servers);
    await served.closed;
    exitWithCode();
  },
};

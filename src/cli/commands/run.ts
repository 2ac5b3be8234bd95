import type { CommandModule, Options } from 'yargs';
import { loadConfig } from '../../config/load.ts';
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
    const [{ GuardFactory }, { serveStdio }] = await Promise.all([import('../../guard/load.ts'), import('../../proxy/session.ts')]);
    const config = loadConfig(args.config);
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
    await served.closed;
    exitWithCode();
  },
};

import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.ts';
import { MODES, type Mode } from '../../config/schema.ts';
import { GuardFactory, readLocalGuard } from '../../guard/load.ts';
import { McpgError } from '../../shared/errors.ts';
import { startGateway } from '../../proxy/gateway.ts';
import { LEVELS, type Level, configureLog } from '../../shared/log.ts';
import { exitOk } from '../exit.ts';

interface Args {
  config: string;
  mode?: Mode;
  'audit-log'?: string;
  'log-level': Level;
  'log-file'?: string;
}

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'Serve MCP on stdin/stdout in front of the configured servers',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'config file (.toml or .json)' })
      .option('mode', { choices: MODES, describe: 'DIFC mode, overriding [gateway] mode' })
      .option('audit-log', { type: 'string', describe: 'append one JSON line per DIFC decision to this file' })
      .option('log-level', { choices: LEVELS, default: 'info' as Level, describe: 'diagnostics threshold' })
      .option('log-file', { type: 'string', describe: 'write diagnostics here instead of stderr' }),
  handler: async (args) => {
    configureLog({ level: args['log-level'], file: args['log-file'] });
    const config = loadConfig(args.config);
    const guards = new GuardFactory(config.guards, async (cfg) => {
      if ('path' in cfg) return readLocalGuard(cfg);
      throw new McpgError('GUARD_LOAD', `guard "${cfg.name}": remote and registry guards need \`mcpg guard lock\` first`);
    });
    const gateway = await startGateway({
      config,
      mode: args.mode,
      auditLog: args['audit-log'],
      makeGuard: (server) => guards.make(server),
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void gateway.close());
    await gateway.closed;
    exitOk();
  },
};

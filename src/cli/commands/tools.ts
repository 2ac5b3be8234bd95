import type { CommandModule } from 'yargs';
import { type Config, loadConfig } from '../../config/load.ts';
import { EXIT, McpgError } from '../../shared/errors.ts';
import { PIN_WORD, type PinChange } from '../../proxy/pins.ts';
import { readLock, writeLock } from '../../supply/lock.ts';
import { exitWithCode } from '../exit.ts';
import { configureLog } from '../../shared/log.ts';
import { out } from '../output.ts';

interface Args {
  config: string;
  lock?: string;
  server?: string[];
}

const options = <T>(y: import('yargs').Argv<T>) =>
  y
    .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'config file (.toml or .json)' })
    .option('lock', { type: 'string', describe: 'the lock file (default: [gateway] lock, beside the config)' })
    .option('server', { type: 'string', array: true, describe: 'only these servers (default: all)' });

function servers(config: Config, names: string[] | undefined): Config['servers'] {
  const unknown = (names ?? []).filter((n) => !config.servers.some((s) => s.name === n));
  if (unknown.length) throw new McpgError('USAGE', `no server named ${unknown.join(', ')} in ${config.file}`);
  return config.servers.filter((s) => !names?.length || names.includes(s.name));
}

/** The servers' start-up chatter (their stderr, "started") is not what these commands report. */
const quiet = () => configureLog({ level: 'warn' });

const shorten = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').slice(0, 200);

/** One line per change, descriptions side by side: what a reviewer reads before pinning. */
function describeChanges(server: string, changes: PinChange[]): string[] {
  return changes.map((c) => {
    const what = `${server}: ${PIN_WORD[c.kind]} "${c.name}" ${c.change}`;
    if (c.change === 'changed') return `${what}\n    was: ${shorten(c.old)}\n    now: ${shorten(c.new)}`;
    return `${what}: ${shorten(c.change === 'added' ? c.new : c.old)}`;
  });
}

const lockCommand: CommandModule<object, Args> = {
  command: 'lock',
  describe: 'Start the servers and pin their tool, prompt and resource template definitions in the lock',
  builder: (y) => options(y),
  handler: async (args) => {
    quiet();
    const [{ diffPins, pinsOf }, { liveDefinitions }] = await Promise.all([import('../../proxy/pins.ts'), import('../../proxy/backend.ts')]);
    const config = loadConfig(args.config);
    const file = args.lock ?? config.lock;
    const lock = readLock(file);
    const lines: string[] = [];
    for (const server of servers(config, args.server)) {
      const live = await liveDefinitions(server);
      lines.push(...describeChanges(server.name, diffPins(lock.tools?.[server.name], live)));
      (lock.tools ??= {})[server.name] = pinsOf(server, live);
      lines.push(`${server.name}: pinned ${live.tools.length} tools, ${live.prompts.length} prompts, ${live.resource_templates.length} resource templates`);
    }
    writeLock(file, lock);
    out([...lines, `${file}: written`].join('\n'));
  },
};

const diffCommand: CommandModule<object, Args> = {
  command: 'diff',
  describe: 'Start the servers and show what changed since their definitions were pinned (exit 6 if anything did)',
  builder: (y) => options(y),
  handler: async (args) => {
    quiet();
    const [{ diffPins }, { liveDefinitions }] = await Promise.all([import('../../proxy/pins.ts'), import('../../proxy/backend.ts')]);
    const config = loadConfig(args.config);
    const lock = readLock(args.lock ?? config.lock);
    const lines: string[] = [];
    for (const server of servers(config, args.server)) lines.push(...describeChanges(server.name, diffPins(lock.tools?.[server.name], await liveDefinitions(server))));
    out(lines.length ? lines.join('\n') : 'no changes since the definitions were pinned');
    if (lines.length) exitWithCode(EXIT.supply);
  },
};

export const toolsCommand: CommandModule = {
  command: 'tools <command>',
  describe: 'Pin tool definitions against rug pulls: lock them, diff them',
  builder: (y) => y.command(lockCommand).command(diffCommand).demandCommand(1),
  handler: () => {},
};

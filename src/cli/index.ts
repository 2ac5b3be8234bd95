import type { CommandModule, Options } from 'yargs';
import { McpgError } from '../shared/errors.ts';
import { exitWith } from './exit.ts';
import { out } from './output.ts';
import { quickArgs } from './quick-args.ts';

export const EPILOG = `Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  usage error (unknown command or option)
  3  config error (file, key and expectation are named), or a file given to mcpg cannot be opened
  4  a backend server failed to start, or refused mcpg's credentials
  5  a guard failed to load or answered wrongly
  6  guard supply: lock, hash or signature mismatch, download failure; pinned definitions changed`;

const FISH_COMPLETION = `# mcpg completions for fish: mcpg completion fish > ~/.config/fish/completions/mcpg.fish
function __mcpg_completions
    set -l args (commandline -opc)
    mcpg --get-yargs-completions $args[2..-1] (commandline -ct)
end
complete -c mcpg -f -a '(__mcpg_completions)'`;

/**
 * What agents start at every session and CI at every push: parsed without yargs when plain, and
 * with only their own command's module loaded (the others' cost start-up a few milliseconds).
 */
const QUICK: [string[], () => Promise<CommandModule<object, never>>][] = [
  [['run'], async () => (await import('./commands/run.ts')).runCommand as CommandModule<object, never>],
  [['guard', 'verify'], async () => (await import('./commands/guard.ts')).verifyCommand as CommandModule<object, never>],
];

/** Every command, for yargs. */
async function commands() {
  const [attest, auth, cache, config, explain, guard, health, imports, registry, run, serve, tools] = await Promise.all([
    import('./commands/attest.ts'),
    import('./commands/auth.ts'),
    import('./commands/cache.ts'),
    import('./commands/config.ts'),
    import('./commands/explain.ts'),
    import('./commands/guard.ts'),
    import('./commands/health.ts'),
    import('./commands/import.ts'),
    import('./commands/registry.ts'),
    import('./commands/run.ts'),
    import('./commands/serve.ts'),
    import('./commands/tools.ts'),
  ]);
  return [
    run.runCommand,
    serve.serveCommand,
    health.healthCommand,
    config.configCommand,
    auth.authCommand,
    guard.guardCommand,
    tools.toolsCommand,
    explain.explainCommand,
    imports.importCommand,
    cache.cacheCommand,
    registry.registryCommand,
    attest.attestCommand,
  ] as CommandModule<object, never>[];
}

export async function main(argv: string[]): Promise<void> {
  // yargs writes bash and zsh completion scripts; fish's asks the same completion hook.
  if (argv[0] === 'completion' && argv[1] === 'fish') return out(FISH_COMPLETION);
  try {
    for (const [words, load] of QUICK) {
      if (!words.every((w, i) => argv[i] === w)) continue;
      const command = await load();
      const args = quickArgs(argv.slice(words.length), command.builder as Record<string, Options>);
      if (args) return await command.handler({ ...args, _: words, $0: 'mcpg' } as never);
    }
    const [{ default: yargs }, all] = await Promise.all([import('yargs'), commands()]);
    await yargs(argv)
      .scriptName('mcpg')
      .usage('$0 <command>\n\nAn MCP gateway that enforces information-flow control with WebAssembly guards.')
      .command(all)
      .demandCommand(1, 'Name a command.')
      .completion('completion', 'print a completion script for bash or zsh (`mcpg completion fish` for fish)')
      .strict()
      .version(false)
      .option('version', { type: 'boolean', global: false, describe: 'print the version' })
      .alias('h', 'help')
      .example('$0 run --config mcpg.toml', 'serve MCP on stdio, in front of the servers in mcpg.toml')
      .example('$0 serve --config mcpg.toml --listen 127.0.0.1:3000', 'serve MCP over HTTP to the agents named in [gateway] agents')
      .example('$0 config check mcpg.toml', 'validate a config and show what it resolves to')
      .example('$0 guard inspect guard.wasm', 'check a guard module against the guard ABI')
      .example('$0 guard lock --config mcpg.toml', 'download, verify and pin the guards in guards.lock')
      .example('$0 guard verify --frozen --config mcpg.toml', 'in CI: fail when config, lock and signatures disagree')
      .example('$0 tools lock --config mcpg.toml', 'pin the servers\' tool definitions (rug-pull protection)')
      .example('$0 explain --audit-log audit.jsonl', 'say why the last call was denied, and what would let it pass')
      .example('$0 import', "write an mcpg.toml from your MCP client's config")
      .epilog(EPILOG)
      .wrap(Math.min(100, process.stdout.columns || 100))
      .fail((message, err, y) => {
        // Bare `mcpg` (or a missing command) shows the usage, then says what is missing.
        if (!err && /Name a command|Not enough non-option arguments/.test(message)) y.showHelp((s) => process.stderr.write(`${s}\n\n`));
        throw err ?? new McpgError('USAGE', message);
      })
      .parseAsync();
  } catch (err) {
    exitWith(err);
  }
}


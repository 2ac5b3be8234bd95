import type { CommandModule } from 'yargs';
import { McpgError } from '../../shared/errors.ts';
import { out } from '../output.ts';

// Loaded by the handlers: the other commands do not pay for the registry and semver.
const registry = async () => ({ ...(await import('../../registry/index.ts')), semver: (await import('semver')).default });

const registryOption = { type: 'string', describe: 'plugin registry index, URL or file (default: the one built in)' } as const;

const list: CommandModule<object, { registry?: string }> = {
  command: 'list',
  describe: 'List the guards in the registry',
  builder: (y) => y.option('registry', registryOption),
  handler: async (args) => {
    const { loadIndex, semver } = await registry();
    const index = await loadIndex(args.registry);
    out(
      Object.entries(index.guards)
        .map(([name, g]) => `${name}@${semver.rsort(Object.keys(g.versions))[0]}  ${g.description}`)
        .join('\n'),
    );
  },
};

const info: CommandModule<object, { registry?: string; name: string }> = {
  command: 'info <name>',
  describe: 'Show a guard: publisher, signer, versions',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true, describe: 'a guard name (NAME or NAME@RANGE)' }).option('registry', registryOption),
  handler: async (args) => {
    const { loadIndex, parseName, semver } = await registry();
    const index = await loadIndex(args.registry);
    const { name } = parseName(args.name);
    const g = index.guards[name];
    if (!g) throw new McpgError('USAGE', `the registry has no guard named "${name}" (see \`mcpg registry list\`)`);
    const signer = Object.entries(g.signer).map(([k, v]) => `  ${k}: ${v}`);
    const versions = semver.rsort(Object.keys(g.versions)).map((v) => `  ${v}  ${g.versions[v]!.url ?? `oci://${g.versions[v]!.oci}`}  sha256 ${g.versions[v]!.sha256}`);
    out([`${name}: ${g.description}`, `repository: ${g.repository}`, 'signer:', ...signer, 'versions:', ...versions].join('\n'));
  },
};

export const registryCommand: CommandModule = {
  command: 'registry <command>',
  describe: 'Browse the plugin registry',
  builder: (y) => y.command(list).command(info).demandCommand(1),
  handler: () => {},
};

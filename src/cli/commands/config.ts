import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.ts';
import { out } from '../output.ts';

export const configCommand: CommandModule = {
  command: 'config <command>',
  describe: 'Work with config files',
  builder: (y) =>
    y
      .command<{ file: string; json: boolean }>({
        command: 'check <file>',
        describe: 'Validate a config; print the servers and guards it resolves to',
        builder: (yy) => yy.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false }),
        handler: (args) => {
          const config = loadConfig(args.file);
          if (args.json) return out(JSON.stringify(config, null, 2));
          const lines = [`${config.file}: ok (mode ${config.mode})`, 'servers:'];
          for (const s of config.servers) {
            const how = 'command' in s ? `${s.command} ${s.args.join(' ')}`.trim() : s.url;
            const tools = s.tools ? `, tools ${s.tools.join(', ')}` : '';
            lines.push(`  ${s.name}: ${how} (guard ${s.guard ?? 'noop'}${tools})`);
          }
          lines.push('guards:');
          for (const g of config.guards) {
            const source = 'builtin' in g ? `builtin ${g.builtin}` : 'path' in g ? g.path : 'url' in g ? g.url : g.source;
            lines.push(`  ${g.name}: ${source}`);
          }
          out(lines.join('\n'));
        },
      })
      .demandCommand(1),
  handler: () => {},
};

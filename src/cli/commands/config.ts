import type { CommandModule } from 'yargs';
import { type Config, loadConfig } from '../../config/load.ts';
import { SECRET_KEY } from '../../config/secrets.ts';
import { note, out } from '../output.ts';

export const configCommand: CommandModule = {
  command: 'config <command>',
  describe: 'Work with config files',
  builder: (y) =>
    y
      .command<{ file: string; json: boolean }>({
        command: 'check <file>',
        describe: 'Validate a config; print the servers and guards it resolves to',
        builder: (yy) =>
          yy
            .positional('file', { type: 'string', demandOption: true, describe: 'the config (.toml or .json)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the resolved config as JSON (secrets redacted)' }),
        handler: (args) => {
          const config = redacted(loadConfig(args.file));
          for (const w of config.warnings) note(`mcpg: warning: ${w}`);
          if (args.json) return out(JSON.stringify(config, null, 2));
          const lines = [`${config.file}: ok (mode ${config.mode ?? 'strict unless a guard asks for another'})`, 'servers:'];
          for (const s of config.servers) {
            const how = 'command' in s ? `${s.command} ${s.args.join(' ')}`.trim() : s.url;
            const tools = s.tools ? `, tools ${s.tools.join(', ')}` : '';
            lines.push(`  ${s.name}: ${how} (guard ${s.guard ?? 'noop'}${tools})`);
          }
          lines.push('guards:');
          for (const g of config.guards) {
            const source = 'builtin' in g ? `builtin ${g.builtin}` : 'path' in g ? g.path : 'url' in g ? g.url : 'oci' in g ? `oci ${g.oci}` : g.source;
            lines.push(`  ${g.name}: ${source}`);
          }
          out(lines.join('\n'));
        },
      })
      .demandCommand(1),
  handler: () => {},
};


/**
 * The config as it may be shown: a value that came from `${VAR}` is shown as written; literal
 * values of secret-looking env variables and headers, and passwords in URLs, as "<redacted>".
 */
function redacted(config: Config): Omit<Config, 'templates'> {
  const { templates, ...shown } = config;
  const as = (path: string, value: string, secret: boolean) =>
    templates[path] ?? (secret ? '<redacted>' : value.replace(/^([a-z]+:\/\/[^/:@]*:)[^/@]*@/i, '$1<redacted>@'));
  const hide = (path: string, values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, as(`${path}.${k}`, v, SECRET_KEY.test(k))]));
  return {
    ...shown,
    servers: config.servers.map((s) => {
      const at = `servers.${s.name}`;
      return 'url' in s
        ? {
            ...s,
            url: as(`${at}.url`, s.url, false),
            headers: hide(`${at}.headers`, s.headers),
            ...(s.oauth && { oauth: { ...s.oauth, ...hide(`${at}.oauth`, Object.fromEntries(Object.entries(s.oauth).filter(([k]) => SECRET_KEY.test(k))) as Record<string, string>) } }),
          }
        : { ...s, env: hide(`${at}.env`, s.env), args: s.args.map((a, i) => as(`${at}.args.${i}`, a, false)) };
    }),
    guards: config.guards.map((g) => ('url' in g ? { ...g, url: as(`guards.${g.name}.url`, g.url, false) } : g)),
  };
}

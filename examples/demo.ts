// The demo agent: starts `mcpg run` on examples/mcpg.toml and shows an allowed call, a denied
// call, a filtered list and, in propagate mode, a write refused after the agent read private data.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const root = join(import.meta.dirname, '..');
const mcpg = process.env.MCPG_BIN ? [process.env.MCPG_BIN] : [process.execPath, join(root, 'dist/mcpg.cjs')];

async function session(mode: string, steps: [string, string, Record<string, unknown>][]) {
  const [command, ...args] = mcpg as [string, ...string[]];
  const transport = new StdioClientTransport({
    command,
    args: [...args, 'run', '--config', join(root, 'examples/mcpg.toml'), '--mode', mode, '--log-level', 'warn'],
  });
  const client = new Client({ name: 'mcpg-demo', version: '1.0.0' });
  await client.connect(transport);
  console.log(`\n=== mcpg run --mode ${mode}`);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  console.log(`tools: ${tools.join(', ')}`);
  for (const [title, name, args] of steps) {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { text: string }[]).map((c) => c.text).join('\n    ');
    console.log(`\n${r.isError ? 'DENIED ' : 'ALLOWED'}  ${title}\n  ${name} ${JSON.stringify(args)}\n    ${text}`);
  }
  await client.close();
}

await session('filter', [
  ['read issues of a public repository', 'github___list_issues', { owner: 'octo', repo: 'public' }],
  ['list issues of a private repository: every item withheld, an empty list and a notice', 'github___list_issues', { owner: 'octo', repo: 'secret' }],
  ['read one issue of a private repository', 'github___get_issue', { owner: 'octo', repo: 'secret', issue_number: 7 }],
  ['search repositories: the private one is filtered out', 'github___search_repositories', { query: 'user:octo' }],
  ['create an issue without contributor integrity', 'github___create_issue', { owner: 'octo', repo: 'public', title: 'hi' }],
]);
await session('propagate', [
  ['post a note before reading anything private', 'notes___post_note', { text: 'hello' }],
  ['read a private repository (propagate: allowed, the agent is now tainted)', 'github___list_issues', { owner: 'octo', repo: 'secret' }],
  ['post what was read to the public notes sink', 'notes___post_note', { text: 'secret roadmap' }],
]);

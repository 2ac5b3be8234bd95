// The floor under `mcpg run`'s start on this machine: a bare Node process that starts N servers
// at once, introduces itself to each and lists their tools, then answers its client's
// initialize and tools/list with what they said. No config, guards or checks: what any Node
// gateway in front of stdio servers pays to start before it can answer.
// Usage: node stdio-spawner.mjs N COMMAND [ARGS...]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const [count, command, ...args] = process.argv.slice(2);
const rpc = (child, id, method, params) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
const servers = Array.from({ length: Number(count) }, () => {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const answers = new Map();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    answers.get(m.id)?.(m.result);
  });
  const ask = (id, method, params) => new Promise((resolve) => (answers.set(id, resolve), rpc(child, id, method, params)));
  const tools = ask(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'spawner', version: '1' } }).then(() => {
    child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    return ask(2, 'tools/list', {});
  });
  return { child, tools };
});
const all = Promise.all(servers.map((s) => s.tools));
const answer = (id, result) => process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result })}\n`);
createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') answer(m.id, { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'spawner', version: '1' } });
  else if (m.method === 'tools/list') answer(m.id, { tools: (await all).flatMap((r, i) => r.tools.map((t) => ({ ...t, name: `s${i}___${t.name}` }))) });
});
process.stdin.on('end', () => servers.forEach((s) => s.child.kill()));

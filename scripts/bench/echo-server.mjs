// A bare MCP server for benchmarks: newline-delimited JSON-RPC on stdio, no SDK, so that what
// is measured is the path in front of it. Tools: echo (returns its arguments as JSON text) and
// list_repos (a JSON collection of about `bytes` bytes, the shape repo-visibility labels per item).
import { createInterface } from 'node:readline';

const send = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const text = (t) => ({ content: [{ type: 'text', text: t }] });
const repos = new Map();
function listRepos(bytes) {
  if (!repos.has(bytes)) {
    const items = [];
    let size = 0;
    for (let i = 0; size < bytes; i++) {
      const item = { full_name: `octo/repo-${i}`, private: i % 10 === 0, description: 'x'.repeat(60) };
      size += JSON.stringify(item).length + 1;
      items.push(item);
    }
    repos.set(bytes, JSON.stringify({ total_count: items.length, items }));
  }
  return text(repos.get(bytes));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  if (msg.id === undefined) return;
  const result =
    msg.method === 'initialize'
      ? { protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'echo', version: '1' } }
      : msg.method === 'tools/list'
        ? {
            tools: [
              { name: 'get_echo', inputSchema: { type: 'object' } },
              { name: 'list_repos', inputSchema: { type: 'object', properties: { bytes: { type: 'number' } } } },
            ],
          }
        : msg.method === 'tools/call'
          ? msg.params.name === 'list_repos'
            ? listRepos(msg.params.arguments.bytes)
            : text(JSON.stringify(msg.params.arguments))
          : msg.method === 'ping'
            ? {}
            : undefined;
  if (result) send({ jsonrpc: '2.0', id: msg.id, result });
  else send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
});

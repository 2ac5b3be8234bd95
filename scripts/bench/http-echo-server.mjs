// A bare streamable-HTTP MCP server for benchmarks: JSON answers, no sessions, no SDK, so that
// what is measured is the path in front of it. Tool: get_echo (its arguments as JSON text).
// Prints its URL on stdout.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  if (req.method !== 'POST') return void res.writeHead(405).end();
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const msg = JSON.parse(body);
    if (msg.id === undefined) return void res.writeHead(202).end();
    const result =
      msg.method === 'initialize'
        ? { protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'http-echo', version: '1' } }
        : msg.method === 'tools/list'
          ? { tools: [{ name: 'get_echo', description: 'echo', inputSchema: { type: 'object' } }] }
          : msg.method === 'tools/call'
            ? { content: [{ type: 'text', text: JSON.stringify(msg.params.arguments) }] }
            : {};
    const out = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}/mcp\n`));

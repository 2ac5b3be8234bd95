// The checks a 2026 request gets at mcpg serve's door (SEP-2575, SEP-2243), one by one.
import { describe, expect, it } from 'vitest';
import { decodedHeader } from '../../src/proxy/param-headers.ts';
import { modernErrorStatus, refusedModern } from '../../src/proxy/protocol.ts';

const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'a', version: '1' } };
const call = (extra: Record<string, unknown> = {}, meta: Record<string, unknown> = ENVELOPE) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: meta, ...extra } });
const HEADERS = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

describe('the 2026 door of mcpg serve', () => {
  it('lets a whole 2026 request through, and leaves the older era alone', () => {
    expect(refusedModern(HEADERS, call())).toBeUndefined();
    expect(refusedModern({ 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } })).toBeUndefined();
    expect(refusedModern({}, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} })).toBeUndefined();
    // Mcp-Name in the spec's base64 form for a value that is not plain ASCII.
    const name = 'écho';
    expect(refusedModern({ ...HEADERS, 'mcp-name': `=?base64?${Buffer.from(name).toString('base64')}?=` }, call({ name }))).toBeUndefined();
  });

  it.each([
    ['an unknown version in the header', { ...HEADERS, 'mcp-protocol-version': '2099-01-01' }, call(), 400, -32022],
    ['header and envelope disagree', { ...HEADERS, 'mcp-protocol-version': '2025-11-25' }, call(), 400, -32020],
    ['the envelope without capabilities', HEADERS, call({}, { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }), 400, -32602],
    ['a 2026 header without an envelope', HEADERS, call({}, {}), 400, -32602],
    ['no Mcp-Method', { 'mcp-protocol-version': '2026-07-28', 'mcp-name': 'echo' }, call(), 400, -32020],
    ['another Mcp-Name', { ...HEADERS, 'mcp-name': 'other' }, call(), 400, -32020],
    ['a removed method', { ...HEADERS, 'mcp-method': 'ping' }, { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: ENVELOPE } }, 404, -32601],
  ])('refuses %s', (_what, headers, body, status, code) => {
    expect(refusedModern(headers, body)).toMatchObject({ status, code });
  });

  it('says a 2026 error\'s kind in the HTTP status', () => {
    expect([-32601, -32602, -32022, -32020, -32603, -32000].map(modernErrorStatus)).toEqual([404, 400, 400, 400, 200, 200]);
  });

  it('holds a tool call\'s Mcp-Param-* headers to its arguments, as the tool declares them', () => {
    const declared = () => [{ path: ['region'], name: 'Region' }];
    const region = (value: string | undefined, args: object = { region: 'Hello' }) =>
      refusedModern({ ...HEADERS, ...(value !== undefined && { 'mcp-param-region': value }) }, call({ arguments: args }), declared);
    expect(region('Hello')).toBeUndefined();
    expect(region('=?base64?SGVsbG8=?=')).toBeUndefined();
    expect(region(undefined, {})).toBeUndefined();
    for (const bad of [undefined, 'Other', '=?base64?SGVsbG8?=', '=?base64?SGVs!!!bG8=?=', 'caf\u00e9']) expect(region(bad)).toMatchObject({ status: 400, code: -32020 });
    expect(region('Hello', {})).toMatchObject({ status: 400, code: -32020 });
    // Without the whole wrapper a value is literal.
    expect(decodedHeader('=?base64?SGVsbG8=')).toBe('=?base64?SGVsbG8=');
  });
});

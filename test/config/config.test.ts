import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { tempDir, writeConfig } from '../helpers/mcpg.ts';

function error(fn: () => unknown): McpgError {
  try {
    fn();
  } catch (err) {
    if (err instanceof McpgError) return err;
    throw err;
  }
  throw new Error('expected an McpgError');
}

const TOML = `
[gateway]
mode = "filter"

[servers.github]
command = "./bin/github-mcp-server"
args = ["stdio"]
env = { GITHUB_TOKEN = "\${GITHUB_TOKEN}" }
guard = "github"
tools = ["list_issues"]

[servers.web]
url = "http://127.0.0.1:9/mcp"
headers = { Authorization = "Bearer x" }
tool_timeout = 5

[guards.github]
path = "./guards/github.wasm"
policy = { allow-only = { repos = "public", min-integrity = "none" } }
`;

describe('config loading', () => {
  it('reads TOML, expands ${VAR}, fills defaults once and resolves paths against the config file', () => {
    const dir = tempDir();
    const cfg = loadConfig(writeConfig(dir, TOML, 'mcpg.toml'), { GITHUB_TOKEN: 'tok' });
    expect(cfg.mode).toBe('filter');
    const gh = cfg.servers.find((s) => s.name === 'github')!;
    expect(gh).toMatchObject({ command: join(dir, 'bin/github-mcp-server'), env: { GITHUB_TOKEN: 'tok' }, tools: ['list_issues'] });
    expect(gh.startupTimeoutMs).toBe(30_000);
    expect(cfg.servers.find((s) => s.name === 'web')).toMatchObject({ url: 'http://127.0.0.1:9/mcp', toolTimeoutMs: 5000 });
    expect(cfg.guards[0]).toMatchObject({ name: 'github', path: join(dir, 'guards/github.wasm'), limits: { memory_mib: 32, backend_calls: 50 } });
    expect(cfg.guards[0]?.policy).toEqual({ 'allow-only': { repos: 'public', 'min-integrity': 'none' } });
  });

  it('accepts the MCP-client JSON convention {"mcpServers": ...}', () => {
    const dir = tempDir();
    const cfg = loadConfig(writeConfig(dir, { mcpServers: { a: { command: 'x', type: 'stdio' } }, guards: {} }));
    expect(cfg.servers).toMatchObject([{ name: 'a', command: 'x', args: [] }]);
    expect(cfg.mode).toBeUndefined();
  });

  it('names the variable, the file and the key when ${VAR} is not set', () => {
    const dir = tempDir();
    const file = writeConfig(dir, TOML, 'mcpg.toml');
    const e = error(() => loadConfig(file, {}));
    expect(e.code).toBe('CONFIG_ENV_MISSING');
    expect(e.message).toBe(`${file}: servers.github.env.GITHUB_TOKEN: environment variable GITHUB_TOKEN is not set (used as \${GITHUB_TOKEN})`);
    expect(e.exitCode).toBe(3);
  });

  const cases: [string, object | string, string, RegExp][] = [
    ['unknown key', { servers: { a: { command: 'x', comand: 'y' } } }, 'CONFIG_INVALID', /servers\.a: unknown key "comand" \(did you mean "command"\?\)$/],
    ['a typo of the required key', { servers: { a: { comand: 'x' } } }, 'CONFIG_INVALID', /servers\.a: unknown key "comand" \(did you mean "command"\?\) \(and 1 more problem\)$/],
    ['a typo in [gateway]', { gateway: { tool_timout: 3 }, servers: { a: { command: 'x' } } }, 'CONFIG_INVALID', /gateway: unknown key "tool_timout" \(did you mean "tool_timeout"\?\)$/],
    ['names that could collide', { servers: { a: { command: 'x' }, a_: { command: 'y' } } }, 'CONFIG_INVALID', /servers\.a_: name must not end with "_"/],
    ['nesting too deep', `{"servers":{"a":{"command":"x","env":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}}}`, 'CONFIG_PARSE', /servers\.a\.env\.a…: nested deeper than 64 levels$/],
    ['wrong type', { servers: { a: { command: 'x', args: 'stdio' } } }, 'CONFIG_INVALID', /servers\.a\.args: Invalid input: expected array/],
    ['no transport', { servers: { a: { args: [] } } }, 'CONFIG_INVALID', /servers\.a: a server needs one of `command` \(stdio\) or `url`/],
    ['two transports', { servers: { a: { command: 'x', url: 'http://h' } } }, 'CONFIG_INVALID', /servers\.a: .*not several/],
    ['bad mode', { gateway: { mode: 'lenient' }, servers: { a: { command: 'x' } } }, 'CONFIG_INVALID', /gateway\.mode: Invalid option/],
    ['undefined guard', { servers: { a: { command: 'x', guard: 'gh' } } }, 'CONFIG_INVALID', /servers\.a\.guard: names guard "gh", which is not defined/],
    ['reserved separator', { servers: { 'a___b': { command: 'x' } } }, 'CONFIG_INVALID', /must not contain "___"/],
    ['no servers', { servers: {} }, 'CONFIG_INVALID', /servers: at least one server/],
    ['bad guard source', { servers: { a: { command: 'x' } }, guards: { g: { policy: {} } } }, 'CONFIG_INVALID', /guards\.g: a guard needs one of/],
    ['an empty signer', { servers: { a: { command: 'x' } }, guards: { g: { url: 'https://h/g.wasm', signer: {} } } }, 'CONFIG_INVALID', /guards\.g\.signer: a signer must say who built the guard: add repository = "OWNER\/REPO"/],
    ['an issuer-only signer', { servers: { a: { command: 'x' } }, guards: { g: { url: 'https://h/g.wasm', signer: { issuer: 'https://token.actions.githubusercontent.com' } } } }, 'CONFIG_INVALID', /guards\.g\.signer: a signer must say who built the guard/],
    ['a remote guard without a signer', { servers: { a: { command: 'x' } }, guards: { g: { url: 'https://h/g.wasm' } } }, 'CONFIG_INVALID', /guards\.g\.signer: a remote guard needs a signer/],
    ['an unsigned guard without a pin', { servers: { a: { command: 'x' } }, guards: { g: { url: 'https://h/g.wasm', unsigned: true } } }, 'CONFIG_INVALID', /guards\.g\.sha256: an unsigned guard must pin its bytes/],
    ['bad sha256', { servers: { a: { command: 'x' } }, guards: { g: { path: 'g.wasm', sha256: 'abc' } } }, 'CONFIG_INVALID', /guards\.g\.sha256: 64 lowercase hex/],
    ['limits', { servers: { a: { command: 'x' } }, guards: { g: { path: 'g.wasm', limits: { memory_mib: 0 } } } }, 'CONFIG_INVALID', /guards\.g\.limits\.memory_mib/],
    ['invalid JSON', '{"servers": ', 'CONFIG_PARSE', /not valid JSON/],
  ];
  for (const [what, content, code, pattern] of cases) {
    it(`reports ${what} with the file and key path`, () => {
      const file = writeConfig(tempDir(), content);
      const e = error(() => loadConfig(file, {}));
      expect(e.code).toBe(code);
      expect(e.message.startsWith(`${file}: `)).toBe(true);
      expect(e.message).toMatch(pattern);
    });
  }

  it('accepts a byte-order mark in JSON and TOML', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bom.json'), '\ufeff{"servers":{"a":{"command":"x"}}}');
    writeFileSync(join(dir, 'bom.toml'), '\ufeff[servers.a]\ncommand = "x"\n');
    expect(loadConfig(join(dir, 'bom.json')).servers[0]?.name).toBe('a');
    expect(loadConfig(join(dir, 'bom.toml')).servers[0]?.name).toBe('a');
  });

  it('reports invalid TOML, an unknown format and an unreadable file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.toml'), '[servers.a\ncommand = 1');
    expect(error(() => loadConfig(join(dir, 'bad.toml'))).message).toMatch(/bad\.toml: not valid TOML/);
    writeFileSync(join(dir, 'c.yaml'), 'x: 1');
    expect(error(() => loadConfig(join(dir, 'c.yaml'))).message).toMatch(/unknown config format "\.yaml"/);
    expect(error(() => loadConfig(join(dir, 'missing.toml'))).code).toBe('CONFIG_READ');
  });
});

describe('config of this round: OCI guards, the machine grants, the protocol era', () => {
  const load = (config: object) => loadConfig(writeConfig(tempDir(), { mcpServers: { s: { command: 'x' } }, ...config }), { JWT: 'j', ID: 'i' });
  const web = (oauth: object) => ({ mcpServers: { web: { url: 'https://web.example.com/mcp', oauth } } });

  it('takes an OCI guard by tag or digest and refuses a reference without a registry, naming the field', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(load({ guards: { g: { oci: 'ghcr.io/octo/guard:1.0.0', signer: { repository: 'octo/guard' } } } }).guards[0]).toMatchObject({ oci: 'ghcr.io/octo/guard:1.0.0' });
    expect(load({ guards: { g: { oci: `ghcr.io/octo/guard@${digest}`, unsigned: true, sha256: 'b'.repeat(64) } } }).guards[0]).toMatchObject({ oci: `ghcr.io/octo/guard@${digest}` });
    expect(error(() => load({ guards: { g: { oci: 'octo/guard:1', signer: { repository: 'octo/guard' } } } })).message).toMatch(/guards\.g\.oci: an OCI reference/);
    expect(error(() => load({ guards: { g: { oci: 'ghcr.io/octo/guard:1' } } })).message).toMatch(/a remote guard needs a signer/);
  });

  it('needs what each machine grant needs', () => {
    expect(load(web({ grant: 'jwt_bearer', client_id: 'w', assertion: '${JWT}' })).servers[0]).toMatchObject({ oauth: { grant: 'jwt_bearer' } });
    expect(error(() => load(web({ grant: 'jwt_bearer', client_id: 'w' }))).message).toMatch(/the jwt_bearer grant needs a client_id and an assertion/);
    const enterprise = { grant: 'enterprise', client_id: 'c', client_secret: 's', id_token: '${ID}', idp_token_endpoint: 'https://idp.example.com/token', idp_client_id: 'i' };
    expect(load(web(enterprise)).servers[0]).toMatchObject({ oauth: { grant: 'enterprise' } });
    expect(error(() => load(web({ ...enterprise, idp_token_endpoint: undefined }))).message).toMatch(/the enterprise grant needs/);
  });

  it('asks a server its era unless told, and knows only the eras mcpg speaks', () => {
    expect(load({ mcpServers: { s: { command: 'x' } } }).servers[0]).toMatchObject({ protocol: 'auto' });
    expect(load({ mcpServers: { s: { command: 'x', protocol: '2025-11-25' } } }).servers[0]).toMatchObject({ protocol: '2025-11-25' });
    expect(error(() => load({ mcpServers: { s: { command: 'x', protocol: '2024-01-01' } } })).message).toMatch(/servers\.s\.protocol/);
  });

  it('sends traces where [gateway.opentelemetry] says, else where the standard OTEL_EXPORTER_OTLP_ENDPOINT says; gh-aw-mcpg\'s endpoint is taken', () => {
    expect(load({ gateway: { opentelemetry: { endpoint: 'http://collector:4318' } } }).opentelemetry).toEqual({ endpoint: 'http://collector:4318', serviceName: 'mcpg', headers: {} });
    const file = writeConfig(tempDir(), { mcpServers: { s: { command: 'x' } } });
    expect(loadConfig(file, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'gw' }).opentelemetry).toEqual({ endpoint: 'http://c:4318', serviceName: 'gw', headers: {} });
    expect(loadConfig(file, {}).opentelemetry).toBeUndefined();
    const ghaw = loadConfig(writeConfig(tempDir(), { mcpServers: { s: { type: 'http', url: 'https://x.example/mcp' } }, gateway: { port: 8000, opentelemetry: { endpoint: 'http://c:4318', sampler: 'always' } } }), {});
    expect(ghaw.opentelemetry?.endpoint).toBe('http://c:4318');
    expect(ghaw.warnings).toContain("gateway.opentelemetry: accepted from gh-aw-mcpg's config; mcpg takes its endpoint only (not sampler)");
    expect(error(() => load({ gateway: { opentelemetry: { endpoint: 'ftp://c' } } })).message).toMatch(/gateway\.opentelemetry\.endpoint/);
  });

  it('takes agent policies for named agents and servers, and names a policy for an unknown one', () => {
    expect(load({ gateway: { agents: { bob: 'bob-token-0123' }, agent_policies: { bob: { servers: ['s'], tools: ['s___*'] } } } }).agentPolicies).toEqual({ bob: { servers: ['s'], tools: ['s___*'] } });
    expect(error(() => load({ gateway: { agents: { bob: 'bob-token-0123' }, agent_policies: { eve: {} } } })).message).toMatch(/gateway\.agent_policies\.eve: names agent "eve", which \[gateway\] agents does not/);
    expect(error(() => load({ gateway: { agent_policies: { bob: { servers: ['nope'] } } } })).message).toMatch(/gateway\.agent_policies\.bob\.servers\.0: names server "nope"/);
  });

  it('shares state in Redis when [gateway] state names it (its password from the environment), and refuses anything else', () => {
    expect(load({ gateway: { state: 'redis://:${JWT}@127.0.0.1:6379/2' } }).state).toBe('redis://:j@127.0.0.1:6379/2');
    expect(load({}).state).toBeUndefined();
    expect(error(() => load({ gateway: { state: 'memcached://127.0.0.1' } })).message).toMatch(/gateway\.state: a redis:\/\/ or rediss:\/\/ URL/);
  });
});

// deploy/kubernetes: every manifest valid against the Kubernetes schemas (kubernetes-models), and
// consistent with itself and with mcpg: the selectors find the pods, the probes ask /health under
// the Host mcpg serves, every ${VAR} of the config comes from the Secret, and the config loads.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { ROOT, tempDir } from '../helpers/mcpg.ts';

const DIR = join(ROOT, 'deploy/kubernetes');
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown>; data?: Record<string, string> };
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const docs: Doc[] = files.flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS() as Doc));
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;

describe('deploy/kubernetes', () => {
  it('every manifest is valid against the Kubernetes schemas, and kustomization lists them all', () => {
    expect(docs.length).toBeGreaterThanOrEqual(8);
    for (const doc of docs) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new Model!(doc as never).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
    }
    // A wrong field is caught: the check is not vacuous.
    const broken = structuredClone(find('Deployment', 'mcpg'));
    (broken.spec as { replicas: unknown }).replicas = 'two';
    expect(() => new Deployment(broken as never).validate()).toThrow();
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
  });

  it("selects mcpg's pods everywhere, probes /health under the Host mcpg serves, and runs as non-root, read-only", () => {
    const deployment = find('Deployment', 'mcpg') as unknown as Deployment;
    const pods = deployment.spec!.template.metadata!.labels!;
    const matches = (selector: Record<string, string> | undefined) => Object.entries(selector ?? {}).every(([k, v]) => pods[k] === v);
    expect(matches(deployment.spec!.selector.matchLabels)).toBe(true);
    expect(matches((find('Service', 'mcpg') as unknown as Service).spec!.selector)).toBe(true);
    expect(matches((find('PodDisruptionBudget', 'mcpg') as unknown as PodDisruptionBudget).spec!.selector!.matchLabels)).toBe(true);
    expect(matches((find('NetworkPolicy', 'mcpg') as unknown as NetworkPolicy).spec!.podSelector?.matchLabels)).toBe(true);
    expect((find('HorizontalPodAutoscaler', 'mcpg') as unknown as HorizontalPodAutoscaler).spec!.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'mcpg' });
    const container = deployment.spec!.template.spec!.containers[0]!;
    const domain = /^\s*domain = "([^"]+)"/m.exec(find('ConfigMap', 'mcpg').data!['mcpg.toml']!)![1];
    for (const probe of [container.readinessProbe!, container.livenessProbe!]) {
      expect(probe.httpGet).toMatchObject({ path: '/health', httpHeaders: [{ name: 'Host', value: domain }] });
    }
    expect(deployment.spec!.template.spec!.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // The config is mounted where the args name it.
    const config = container.args![container.args!.indexOf('--config') + 1]!;
    const mount = container.volumeMounts!.find((m) => config.startsWith(`${m.mountPath}/`))!;
    expect(deployment.spec!.template.spec!.volumes!.find((v) => v.name === mount.name)!.configMap!.name).toBe('mcpg');
  });

  it("its config loads in mcpg, with every ${VAR} from the Secret, and shares state with the Valkey it deploys", () => {
    const toml = find('ConfigMap', 'mcpg').data!['mcpg.toml']!;
    const container = (find('Deployment', 'mcpg') as unknown as Deployment).spec!.template.spec!.containers[0]!;
    const fromSecret = Object.fromEntries(container.env!.filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom!.secretKeyRef!.name]));
    const vars = [...toml.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(vars.length).toBeGreaterThan(0);
    for (const v of vars) expect(fromSecret[v], v).toBe('mcpg');
    const file = join(tempDir(), 'mcpg.toml');
    writeFileSync(file, toml);
    const loaded = loadConfig(file, Object.fromEntries(vars.map((v) => [v, `value-of-${v.toLowerCase()}-0123456789`])));
    const state = new URL(loaded.state!);
    const valkey = find('Service', 'mcpg-valkey') as unknown as Service;
    expect([state.hostname, Number(state.port)]).toEqual([valkey.metadata!.name, valkey.spec!.ports![0]!.port]);
    expect(state.password).toBe('value-of-redis_password-0123456789');
  });
});

describe('the release workflow', () => {
  it('builds the container image for amd64 and arm64 from the Containerfile, and attests each by digest in the registry', () => {
    const wf = parseAllDocuments(readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8'))[0]!.toJS() as { jobs: Record<string, { strategy?: { matrix: { include: { arch?: string }[] } }; steps: { uses?: string; run?: string; with?: Record<string, unknown> }[] }> };
    const job = wf.jobs.container!;
    expect(job.strategy!.matrix.include.map((m) => m.arch)).toEqual(['amd64', 'arm64']);
    expect(job.steps.some((s) => s.run?.includes('buildah build --format docker -f Containerfile'))).toBe(true);
    expect(job.steps.find((s) => s.uses?.startsWith('actions/attest-build-provenance'))!.with).toMatchObject({ 'push-to-registry': true, 'subject-digest': expect.stringContaining('steps.push.outputs.digest') });
    expect(wf.jobs['container-tag']!.steps[0]!.run).toMatch(/manifest push --all/);
  });
});

describe('examples/compose.yaml', () => {
  it('runs two replicas of one config behind the example HAProxy, sharing the Valkey it runs, and the config loads in mcpg', () => {
    const compose = parseAllDocuments(readFileSync(join(ROOT, 'examples/compose.yaml'), 'utf8'))[0]!.toJS() as { services: Record<string, { command?: string[]; volumes?: string[]; environment?: Record<string, string> }> };
    const replicas = ['mcpg1', 'mcpg2'].map((n) => compose.services[n]!);
    expect(replicas[0]).toEqual(replicas[1]);
    const haproxyCfg = readFileSync(join(ROOT, 'examples/haproxy.cfg'), 'utf8');
    for (const name of ['mcpg1', 'mcpg2']) expect(haproxyCfg).toMatch(new RegExp(`^\\s*server ${name} ${name}:3000 check`, 'm'));
    expect(compose.services.haproxy!.volumes).toContain('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    const [config] = replicas[0]!.volumes![0]!.split(':');
    const vars = Object.fromEntries(Object.keys(replicas[0]!.environment!).map((v) => [v, `value-of-${v}-0123456789`]));
    const loaded = loadConfig(join(ROOT, 'examples', config!), vars);
    expect(new URL(loaded.state!).hostname).toBe('valkey');
    expect(compose.services.valkey!.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(replicas[0]!.command).toEqual(['serve', '--config', `/etc/mcpg/${config!.replace('./', '')}`, '--listen', '0.0.0.0:3000']);
  });
});

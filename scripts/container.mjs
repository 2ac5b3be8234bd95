// The build context of the container image (Containerfile) in .cache/container: the single
// executable dist/mcpg, the shared libraries it links (as `ldd` names them on this machine, with
// the dynamic loader), the CA certificates, and passwd/group with the non-root user 65532.
// `--build` then builds the image with buildah (the machine's, or Debian's unpacked into
// .cache/buildah) and tags it `localhost/mcpg:<version>`; it prints the tag.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Prepares the context; returns its path. */
export function containerContext({ binary = join(root, 'dist/mcpg'), out = join(root, '.cache/container') } = {}) {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`npm run build:binary\` first`);
  rmSync(out, { recursive: true, force: true });
  const fs = join(out, 'rootfs');
  const put = (from, to = from) => {
    mkdirSync(dirname(join(fs, to)), { recursive: true });
    copyFileSync(from, join(fs, to));
  };
  put(binary, '/usr/local/bin/mcpg');
  chmodSync(join(fs, 'usr/local/bin/mcpg'), 0o755);
  // Each library at the path the binary finds it by (and the loader at its fixed path).
  const libs = execFileSync('ldd', [binary], { encoding: 'utf8' }).matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g);
  for (const [, lib] of libs) put(execFileSync('readlink', ['-f', lib], { encoding: 'utf8' }).trim(), lib);
  const certs = '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(certs)) put(certs);
  mkdirSync(join(fs, 'etc'), { recursive: true });
  writeFileSync(join(fs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
  writeFileSync(join(fs, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\n');
  mkdirSync(join(fs, 'tmp'), { recursive: true });
  chmodSync(join(fs, 'tmp'), 0o1777);
  // The user's home (its cache and config dirs), owned by it (COPY --chown).
  mkdirSync(join(out, 'home/nonroot/.cache'), { recursive: true });
  return out;
}

/** buildah: the machine's, else Debian's unpacked into .cache/buildah; the environment it runs in (vfs storage in .cache). */
export async function buildah() {
  const onPath = (process.env.PATH ?? '').split(':').find((d) => d && existsSync(join(d, 'buildah')));
  const state = join(root, '.cache/buildah-state');
  mkdirSync(state, { recursive: true });
  const storage = join(state, 'storage.conf');
  writeFileSync(storage, `[storage]\ndriver = "vfs"\ngraphroot = "${join(state, 'storage')}"\nrunroot = "${join(state, 'run')}"\n`);
  if (onPath) return { bin: join(onPath, 'buildah'), policy: [], env: { ...process.env, CONTAINERS_STORAGE_CONF: storage } };
  const base = join(root, '.cache/buildah');
  const { fetchDebian } = await import('./debian.mjs');
  const codename = /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  if (!existsSync(join(base, 'root/usr/bin/buildah'))) fetchDebian({ base, suite: codename, packages: ['buildah'], dependencies: true, what: 'buildah for the container image' });
  const etc = join(base, 'root/etc/containers');
  return {
    bin: join(base, 'root/usr/bin/buildah'),
    // For the commands that read images (build, from): Debian's policy file, not /etc's.
    policy: ['--signature-policy', join(etc, 'policy.json')],
    env: { ...process.env, CONTAINERS_STORAGE_CONF: storage, CONTAINERS_REGISTRIES_CONF: join(etc, 'registries.conf'), LD_LIBRARY_PATH: join(base, 'root/usr/lib/x86_64-linux-gnu') },
  };
}

/** Builds the image from the context; returns its tag. */
export async function buildImage(context = containerContext()) {
  const { bin, policy, env } = await buildah();
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const tag = `localhost/mcpg:${version}`;
  execFileSync(bin, ['build', ...policy, '--format', 'docker', '-f', join(root, 'Containerfile'), '-t', tag, context], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return tag;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const context = containerContext();
  console.log(process.argv.includes('--build') ? await buildImage(context) : context);
}

import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

/** A .tar.gz made of the given entries, names taken as given (even hostile ones). */
export async function packTar(entries: { name: string; data: string | Uint8Array }[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) p.entry({ name: e.name }, Buffer.from(e.data));
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return gzipSync(Buffer.concat(chunks));
}

// Go guards need Go >= 1.24 (//go:wasmexport); filled in by the Go SDK work.
export async function buildGo(dir) {
  throw new Error(`${dir}: Go guards are not built yet`);
}

// Runs a wasm32-wasip1 program (the filter core's `wasm_bench` example) in Node's WASI, with
// the host's files readable at their own paths (the bench reads filter/core/testdata/ from
// where it was built).
//   node scripts/wasm-bench.mjs path/to/wasm_bench.wasm
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/wasm-bench.mjs path/to/wasm_bench.wasm");
  process.exit(2);
}
const wasi = new WASI({ version: "preview1", args: [file], env: {}, preopens: { "/": "/" } });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);

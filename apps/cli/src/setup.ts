/**
 * `npx recfleet setup`: fetch what the fleet needs before first use. The default install is
 * CPU-only (the repository's .npmrc tells onnxruntime-node not to download CUDA libraries);
 * `--cuda` is the one opt-in for GPU scoring.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { cudaProviderLibraryPath } from "@recfleet/towers";
import { ensureKafkaJars } from "@recfleet/stack";

/** The CUDA 12 manifest of onnxruntime-node 1.30: the provider, its shared bridge, TensorRT (optional). */
const CUDA_PROVIDER_FILES = ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"];
const OPTIONAL_PROVIDER_FILES = ["libonnxruntime_providers_tensorrt.so"];

export async function runSetupCli(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { cuda: { type: "boolean", default: false }, "cuda-from": { type: "string" } },
  });
  if (!values.cuda && values["cuda-from"] === undefined) {
    ensureKafkaJars(undefined, (line) => console.log(line));
    console.log("setup complete (Kafka jars cached)");
    return 0;
  }
  const binDir = dirname(cudaProviderLibraryPath());
  if (values["cuda-from"] !== undefined) return copyCudaProvider(resolve(values["cuda-from"]), binDir);
  // onnxruntime-node's own install step, told to fetch the CUDA 12 files from NuGet; the
  // environment variable wins over the repository's `onnxruntime-node-install=skip`.
  const packageRoot = resolve(binDir, "..", "..", "..", "..");
  console.log(`fetching onnxruntime-node's CUDA 12 provider from NuGet into ${binDir} …`);
  const run = spawnSync(process.execPath, [join(packageRoot, "script", "install.js")], {
    cwd: packageRoot,
    stdio: "inherit",
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "cuda12" },
  });
  if (run.status !== 0 || !existsSync(cudaProviderLibraryPath())) {
    console.error(
      "recfleet setup --cuda: the download failed (is api.nuget.org reachable?). Offline, copy the files " +
        `${CUDA_PROVIDER_FILES.join(", ")} from Microsoft.ML.OnnxRuntime.Gpu.Linux (runtimes/linux-x64/native) ` +
        "to a folder and run `npx recfleet setup --cuda-from <folder>`; see docs/cuda.md",
    );
    return 1;
  }
  console.log(`CUDA provider installed: ${cudaProviderLibraryPath()}; run workers with EXECUTION_PROVIDERS=cuda,cpu`);
  return 0;
}

function copyCudaProvider(from: string, binDir: string): number {
  const missing = CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(from, f)));
  if (missing.length > 0) {
    console.error(
      `recfleet setup --cuda-from: ${from} lacks ${missing.join(", ")} (from Microsoft.ML.OnnxRuntime.Gpu.Linux, runtimes/linux-x64/native); see docs/cuda.md`,
    );
    return 1;
  }
  for (const file of [...CUDA_PROVIDER_FILES, ...OPTIONAL_PROVIDER_FILES.filter((f) => existsSync(join(from, f)))]) {
    copyFileSync(join(from, file), join(binDir, file));
    console.log(`copied ${file} → ${binDir}`);
  }
  console.log("CUDA provider installed; run workers with EXECUTION_PROVIDERS=cuda,cpu");
  return 0;
}

/** `npx recfleet doctor`: the local stack's machine checks plus the model runtime's. */
import { existsSync } from "node:fs";
import { cudaProviderLibraryPath } from "@recfleet/towers";
import { formatCheck, runStackChecks, type CheckResult } from "@recfleet/stack";

export async function checkOnnxRuntime(): Promise<CheckResult> {
  try {
    const ort = await import("onnxruntime-node");
    const backends = ort.listSupportedBackends().map((b) => b.name);
    const cuda = existsSync(cudaProviderLibraryPath())
      ? "CUDA provider installed"
      : "CUDA provider not installed (CPU; GPU opt-in: npx recfleet setup --cuda)";
    return { name: "onnxruntime", status: "ok", detail: `backends ${backends.join(", ")}; ${cuda}` };
  } catch (err) {
    const detail = `onnxruntime-node does not load (${err instanceof Error ? err.message : String(err)})`;
    return { name: "onnxruntime", status: "missing", detail, fix: "npm install" };
  }
}

export async function runDoctorCli(): Promise<number> {
  const results = [...(await runStackChecks()), await checkOnnxRuntime()];
  for (const result of results) console.log(formatCheck(result));
  const missing = results.filter((r) => r.status === "missing");
  console.log(
    missing.length === 0
      ? "everything recfleet needs is here"
      : `${missing.length} missing: see the install commands above`,
  );
  return missing.length === 0 ? 0 : 1;
}

import { trainTwoTower, exportModelArtefacts, createInferenceSession } from "@recfleet/towers";
import { rssOf } from "@recfleet/runtime";
const numItems = 1000, fw = 32;
const itemIds = Array.from({ length: numItems }, (_, i) => `i${i}`);
const itemFeatures = new Float32Array(numItems * fw).map((_, i) => (i % 7 === 0 ? 1 : 0));
const examples = Array.from({ length: 15000 }, (_, e) => {
  const b = (e * 7919) % numItems;
  return { history: [b, (b + 1) % numItems, (b + 2) % numItems, (b + 5) % numItems], target: (b + 3) % numItems };
});
const mode = process.argv[3] ?? "train";
let prev: Awaited<ReturnType<typeof createInferenceSession>> | undefined;
for (let run = 1; run <= Number(process.argv[2] ?? 8); run++) {
  const model = await trainTwoTower({ itemIds, itemFeatures, examples }, { epochs: 2, dim: 32, hidden: 64, threads: 1 });
  if (mode === "embed") {
    const a = exportModelArtefacts(model, { modelVersion: `v${run}` });
    const s = await createInferenceSession(a["item_tower.onnx"] as Uint8Array, { executionProviders: ["cpu"] });
    await prev?.session.release();
    prev = s;
  }
  globalThis.gc?.();
  console.log(`run ${run}: rss ${rssOf().rssMb} heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} ext ${(process.memoryUsage().external/1048576).toFixed(1)}`);
}

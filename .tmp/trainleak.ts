import { trainTwoTower, exportModelArtefacts } from "@recfleet/towers";
import { rssOf } from "@recfleet/runtime";
const numItems = 1000;
const itemIds = Array.from({ length: numItems }, (_, i) => `i${i}`);
const examples = Array.from({ length: 15000 }, (_, e) => {
  const b = (e * 7919) % numItems;
  return { history: [b, (b + 1) % numItems, (b + 2) % numItems, (b + 5) % numItems], target: (b + 3) % numItems };
});
for (let run = 1; run <= Number(process.argv[2] ?? 8); run++) {
  const model = await trainTwoTower({ itemIds, itemFeatures: new Float32Array(0), examples }, { epochs: 2, dim: 32, hidden: 64, threads: 1 });
  if (process.argv[3] === "export") await exportModelArtefacts(model);
  globalThis.gc?.();
  console.log(`run ${run}: rss ${rssOf().rssMb} MiB heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} ext ${(process.memoryUsage().external/1048576).toFixed(1)} ab ${(process.memoryUsage().arrayBuffers/1048576).toFixed(1)}`);
}

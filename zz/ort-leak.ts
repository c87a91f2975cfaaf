import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { createInferenceSession, exportModelArtefacts } from "@recfleet/towers";
import { randomModel, rssOf } from "../bench/lib";
const model = await randomModel(1000);
const bytes = exportModelArtefacts(model, { modelVersion: "v" })["item_tower.onnx"]!;
const gc = (globalThis as any).gc as () => void;
for (let i = 0; i < 30; i++) {
  const { session } = await createInferenceSession(bytes, { executionProviders: ["cpu"], logger: { warn() {} } });
  const ids = new BigInt64Array(500).map((_, j) => BigInt(j));
  await session.run({ item_row: new ort.Tensor("int64", ids, [500]) });
  await session.release();
  gc();
  if (i % 5 === 4) console.log(i + 1, "sessions: RSS", rssOf(process.pid).rssMb);
}

/**
 * The child process of train-process.ts: trains one model and exits. Everything a run allocates
 * natively (onnxruntime's training sessions and arenas, the training tensors) leaves with the
 * process, so the trainer worker's resident memory does not grow run after run.
 *
 * Messages: parent → child `{type:"train", …}` once, then possibly `{type:"abort"}`;
 * child → parent `progress` any number of times, then `done` or `error`.
 */
import {
  deserializeModel,
  serializeModel,
  trainTwoTower,
  trainTwoTowerPrivately,
  type PrivacyReport,
  type TrainingProgress,
  type TwoTowerModel,
} from "@recfleet/towers";
import type { ChildMessage, TrainRequest } from "./train-process";

const send = (message: ChildMessage): Promise<void> =>
  new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));

const aborter = new AbortController();

async function train(request: TrainRequest): Promise<void> {
  const options = {
    signal: aborter.signal,
    progressIntervalMs: request.progressIntervalMs,
    onProgress: (progress: TrainingProgress) => void send({ type: "progress", progress }),
  };
  let model: TwoTowerModel;
  let privacy: PrivacyReport | undefined;
  if (request.dp) {
    const trained = await trainTwoTowerPrivately(request.data, request.units!, request.config, request.dp, options);
    model = trained.model;
    privacy = trained.privacy;
  } else {
    model = await trainTwoTower(request.data, request.config, {
      ...options,
      ...(request.warmStart ? { warmStart: deserializeModel(request.warmStart) } : {}),
    });
  }
  const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  await send({ type: "done", model: serializeModel(model), maxRssMb, ...(privacy ? { privacy } : {}) });
}

process.on("message", (message: ({ type: "train" } & TrainRequest) | { type: "abort" }) => {
  if (message.type === "abort") return aborter.abort();
  train(message)
    .catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const flags = e as Error & { retriable?: boolean; field?: string; epoch?: number };
      return send({
        type: "error",
        name: e.name,
        message: e.message,
        ...(typeof flags.retriable === "boolean" ? { retriable: flags.retriable } : {}),
        ...(flags.field !== undefined ? { field: flags.field } : {}),
        ...(flags.epoch !== undefined ? { epoch: flags.epoch } : {}),
      });
    })
    .finally(() => process.exit(0));
});
// The parent died or let go: nothing to train for.
process.on("disconnect", () => process.exit(0));

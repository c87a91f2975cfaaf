/**
 * The child process of train-process.ts: trains one model and exits. Everything a run allocates
 * natively (onnxruntime's training sessions and arenas, the training tensors) leaves with the
 * process instead of staying with the trainer worker.
 *
 * Messages: parent → child `{type:"train", …}` once, then possibly `{type:"abort"}`;
 * child → parent `progress` any number of times, then `done` or `error`.
 */
import { deserializeModel, serializeModel, type TrainingProgress } from "@recfleet/towers";
import { trainCandidate, type ChildMessage, type TrainRequest } from "./train-process";

const send = (message: ChildMessage): Promise<void> =>
  new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));

const aborter = new AbortController();

/** Trains the request here, as trainCandidate trains without isolation, and answers with the model's bytes. */
async function train(request: TrainRequest): Promise<void> {
  const { model, privacy } = await trainCandidate(
    "none",
    {
      data: request.data,
      config: request.config,
      ...(request.warmStart ? { warmStart: deserializeModel(request.warmStart) } : {}),
      ...(request.dp ? { dp: request.dp, units: request.units! } : {}),
    },
    {
      signal: aborter.signal,
      progressIntervalMs: request.progressIntervalMs,
      onProgress: (progress: TrainingProgress) => void send({ type: "progress", progress }),
    },
  );
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

/**
 * Where a run's model is trained: in a child process (TRAIN_ISOLATION=process, the default) or
 * in this one (none).
 *
 * Why a child: whatever a run allocates natively — onnxruntime's training sessions, their arenas
 * and the tensors of every step — leaves with the process (onnxruntime has open reports of
 * session create/release cycles that never give memory back), and a run that runs out of memory
 * takes down only itself, not the worker's embed and promote jobs.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RecfleetError } from "@recfleet/runtime";
import {
  deserializeModel,
  serializeModel,
  trainTwoTower,
  trainTwoTowerPrivately,
  TrainingAbortedError,
  TwoTowerConfigError,
  type DpSgdOptions,
  type PrivacyReport,
  type TrainingData,
  type TrainingProgress,
  type TwoTowerConfig,
  type TwoTowerModel,
} from "@recfleet/towers";

export const TRAIN_ISOLATIONS = ["process", "none"] as const;
export type TrainIsolation = (typeof TRAIN_ISOLATIONS)[number];

/** What the child trains: the model as bytes (serializeModel), everything else as structured clones. */
export interface TrainRequest {
  data: TrainingData;
  config: Partial<TwoTowerConfig>;
  /** serializeModel of the warm-start model. */
  warmStart?: Uint8Array;
  /** DP-SGD: then `units` (one per example) is required and there is no warm start. */
  dp?: DpSgdOptions;
  units?: ArrayLike<number>;
  progressIntervalMs: number;
}

export type ChildMessage =
  | { type: "progress"; progress: TrainingProgress }
  | { type: "done"; model: Uint8Array; privacy?: PrivacyReport; maxRssMb: number }
  | { type: "error"; name: string; message: string; retriable?: boolean; field?: string; epoch?: number };

export interface CandidateRequest {
  data: TrainingData;
  config: Partial<TwoTowerConfig>;
  warmStart?: TwoTowerModel;
  dp?: DpSgdOptions;
  units?: ArrayLike<number>;
}

export interface CandidateOptions {
  signal?: AbortSignal;
  onProgress?: (progress: TrainingProgress) => void;
  progressIntervalMs?: number;
  /** After an abort, how long the child gets to stop on its own before SIGKILL. */
  abortGraceMs?: number;
}

export interface TrainedCandidate {
  model: TwoTowerModel;
  privacy?: PrivacyReport;
  /** The child's peak resident memory (isolation "process" only). */
  processMaxRssMb?: number;
}

/** Trains one candidate, in a child process or in this one. Same inputs, same model (same bytes). */
export async function trainCandidate(
  isolation: TrainIsolation,
  request: CandidateRequest,
  options: CandidateOptions = {},
): Promise<TrainedCandidate> {
  const progressIntervalMs = options.progressIntervalMs ?? 2000;
  if (isolation === "process") {
    return trainInChildProcess(
      {
        data: request.data,
        config: request.config,
        progressIntervalMs,
        ...(request.warmStart ? { warmStart: serializeModel(request.warmStart) } : {}),
        ...(request.dp ? { dp: request.dp, units: request.units! } : {}),
      },
      options,
    );
  }
  const trainOptions = {
    progressIntervalMs,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  if (request.dp) return trainTwoTowerPrivately(request.data, request.units!, request.config, request.dp, trainOptions);
  return {
    model: await trainTwoTower(request.data, request.config, {
      ...trainOptions,
      ...(request.warmStart ? { warmStart: request.warmStart } : {}),
    }),
  };
}

// The child is this file's sibling with the same extension: .ts runs through tsx (as the workers do), .js as built.
const CHILD_PATH = fileURLToPath(import.meta.url).replace(/train-process\.(ts|js)$/, "train-child.$1");
const PROGRAMMER_ERRORS = new Set(["TypeError", "RangeError", "ReferenceError", "SyntaxError"]);

function trainInChildProcess(request: TrainRequest, options: CandidateOptions): Promise<TrainedCandidate> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new TrainingAbortedError(0, { cause: signal.reason }));
  const execArgv = CHILD_PATH.endsWith(".ts") ? ["--import", import.meta.resolve("tsx")] : [];
  const child = fork(CHILD_PATH, [], {
    execArgv,
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise<TrainedCandidate>((resolve, reject) => {
    let answer: ChildMessage | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (child.connected) child.send({ type: "abort" });
      killTimer = setTimeout(() => child.kill("SIGKILL"), options.abortGraceMs ?? 10_000);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    child.on("message", (message: ChildMessage) => {
      if (message.type === "progress") options.onProgress?.(message.progress);
      else answer = message;
    });
    child.on("error", (err) => {
      // fork itself failed (no such file, no memory): the exit handler may never run.
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      answer ??= { type: "error", name: err.name, message: `cannot start the training process: ${err.message}` };
    });
    child.on("exit", (code, exitSignal) => {
      clearTimeout(killTimer);
      signal?.removeEventListener("abort", onAbort);
      if (answer?.type === "done") {
        resolve({
          model: deserializeModel(answer.model),
          ...(answer.privacy ? { privacy: answer.privacy } : {}),
          processMaxRssMb: answer.maxRssMb,
        });
      } else if (answer?.type === "error") {
        reject(rebuildError(answer));
      } else if (signal?.aborted) {
        reject(new TrainingAbortedError(0, { cause: signal.reason }));
      } else {
        const how = exitSignal ? `signal ${exitSignal}` : `code ${code}`;
        reject(
          new RecfleetError(
            `the training process exited with ${how} before it answered (SIGKILL usually means out of memory: ` +
              `lower TRAIN_WINDOW_MAX_EVENTS or TRAIN_MAX_EXAMPLES, or give the trainer more memory)`,
          ),
        );
      }
    });
    child.send({ type: "train", ...request });
  });
}

/** The child's error as the type this process would have thrown training inline. */
function rebuildError(e: ChildMessage & { type: "error" }): Error {
  if (e.name === "TrainingAbortedError") return new TrainingAbortedError(e.epoch ?? 0);
  if (e.name === "TwoTowerConfigError") return new TwoTowerConfigError(e.message, e.field ?? "");
  return new RecfleetError(`training process: ${e.name}: ${e.message}`, {
    retriable: e.retriable ?? !PROGRAMMER_ERRORS.has(e.name),
  });
}

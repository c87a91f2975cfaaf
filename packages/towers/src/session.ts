import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";

/**
 * Where onnxruntime-node looks for its CUDA provider libraries (next to its native binding).
 * Its install step fetches them from NuGet; with ONNXRUNTIME_NODE_INSTALL=skip, or offline,
 * they are absent — docs/cuda.md says how to put them there.
 */
export function cudaProviderLibraryPath(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return join(
    dirname(entry),
    "..",
    "bin",
    "napi-v6",
    process.platform,
    process.arch,
    "libonnxruntime_providers_cuda.so",
  );
}

/** The one message for "CUDA asked for, provider absent": the setting and the command that fixes it. */
export function cudaMissingReason(): string {
  return (
    `cuda: EXECUTION_PROVIDERS asks for cuda but the CUDA provider library is not installed at ${cudaProviderLibraryPath()}; ` +
    "install it with `npx recfleet setup --cuda` (or `--cuda-from <dir>` offline), see docs/cuda.md"
  );
}

export type ExecutionProviderName = "cuda" | "cpu";

export interface SessionLogger {
  warn(message: string, context?: Record<string, unknown>): void;
}

export interface InferenceSessionOptions {
  /** Providers in order of preference, e.g. ["cuda", "cpu"]; the first that starts is used. */
  executionProviders: ExecutionProviderName[];
  /** Told why a preferred provider was skipped. Default: console.warn. */
  logger?: SessionLogger;
  /** CPU intra-op threads (default: onnxruntime's choice). */
  intraOpNumThreads?: number;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  /** The provider that runs this session (export it as a metric label). */
  provider: ExecutionProviderName;
  /** Why earlier providers in the list were skipped, if any were. */
  fallbackReasons: string[];
}

/** No provider in the list could start the session: the graph bytes or the providers are wrong, so retrying fails the same way. */
export class InferenceSessionError extends Error {
  override readonly name = "InferenceSessionError";
  readonly retriable = false;
  constructor(
    message: string,
    readonly reasons: string[],
  ) {
    super(message);
  }
}

const consoleLogger: SessionLogger = { warn: (message, context) => console.warn(message, context ?? "") };

/**
 * The one place sessions are created. CUDA is tried only when requested and only if this
 * onnxruntime-node build can load it; otherwise the next provider (CPU) is used and the reason
 * logged. Release the session with `session.release()`.
 */
export async function createInferenceSession(
  bytes: Uint8Array,
  options: InferenceSessionOptions,
): Promise<CreatedSession> {
  const logger = options.logger ?? consoleLogger;
  const reasons: string[] = [];
  const providers = options.executionProviders.length > 0 ? options.executionProviders : (["cpu"] as const);
  for (const provider of providers) {
    if (provider === "cuda") {
      const backend = ort.listSupportedBackends().find((b) => b.name === "cuda");
      if (backend === undefined) {
        reasons.push("cuda: this onnxruntime-node build lists no CUDA backend");
        logger.warn("CUDA execution provider unavailable, falling back", { reason: reasons.at(-1) });
        continue;
      }
      if (!existsSync(cudaProviderLibraryPath())) {
        reasons.push(cudaMissingReason());
        logger.warn("CUDA execution provider unavailable, falling back", { reason: reasons.at(-1) });
        continue;
      }
    }
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider],
        graphOptimizationLevel: "all",
        // A failed CUDA load is expected on CPU hosts and reported through `logger`; keep
        // onnxruntime's own stderr line for it quiet.
        ...(provider === "cuda" ? { logSeverityLevel: 4 as const } : {}),
        ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      });
      return { session, provider, fallbackReasons: reasons };
    } catch (cause) {
      const reason = `${provider}: ${cause instanceof Error ? cause.message : String(cause)}`;
      reasons.push(reason);
      logger.warn(`${provider} execution provider failed to start, trying the next`, { reason });
    }
  }
  throw new InferenceSessionError(
    `no execution provider could start the session (tried ${providers.join(", ")}): ${reasons.join("; ")}. Check the ONNX artefact and EXECUTION_PROVIDERS`,
    reasons,
  );
}

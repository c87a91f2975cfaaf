import { Counter, Gauge, type Registry } from "@recfleet/runtime";

export interface TrainerMetrics {
  lastTrainingSeconds: Gauge;
  runs: Counter;
  inProgress: Gauge;
  candidateMetric: Gauge;
  currentMetric: Gauge;
  promotions: Counter;
  rejections: Counter;
  embedJobs: Counter;
  windowEvents: Counter;
}

/** The trainer's metrics on the worker's registry. `modelAgeSeconds` is sampled at scrape time from `currentCreatedAt`. */
export function trainerMetrics(
  registry: Registry,
  currentCreatedAt: () => Promise<number | undefined>,
): TrainerMetrics {
  const registers = [registry];
  new Gauge({
    name: "recfleet_trainer_model_age_seconds",
    help: "Seconds since the current model version was created (sampled at scrape time; absent before the first promotion).",
    registers,
    async collect() {
      const at = await currentCreatedAt().catch(() => undefined);
      if (at !== undefined) this.set((Date.now() - at) / 1000);
    },
  });
  return {
    lastTrainingSeconds: new Gauge({
      name: "recfleet_trainer_last_training_duration_seconds",
      help: "Duration of this process's last training run (window read → decision).",
      registers,
    }),
    runs: new Counter({
      name: "recfleet_trainer_runs_total",
      help: "Training runs by outcome: promoted, rejected, skipped, failed.",
      labelNames: ["outcome"],
      registers,
    }),
    inProgress: new Gauge({
      name: "recfleet_trainer_training_in_progress",
      help: "1 while this process holds the fleet-wide training lock.",
      registers,
    }),
    candidateMetric: new Gauge({
      name: "recfleet_trainer_candidate_metric",
      help: "Last candidate's held-out metric (recall, ndcg at EVAL_K).",
      labelNames: ["metric"],
      registers,
    }),
    currentMetric: new Gauge({
      name: "recfleet_trainer_current_metric",
      help: "The current model's held-out metric on the same slice as the last candidate.",
      labelNames: ["metric"],
      registers,
    }),
    promotions: new Counter({
      name: "recfleet_trainer_promotions_total",
      help: "Versions flipped to current by this process (promote jobs; rollbacks excluded).",
      registers,
    }),
    rejections: new Counter({
      name: "recfleet_trainer_rejections_total",
      help: "Candidates rejected by the promotion gate, by reason code.",
      labelNames: ["reason"],
      registers,
    }),
    embedJobs: new Counter({
      name: "recfleet_trainer_embed_jobs_total",
      help: "embed-items jobs run by this process, by outcome (completed, failed).",
      labelNames: ["outcome"],
      registers,
    }),
    windowEvents: new Counter({
      name: "recfleet_trainer_window_events_total",
      help: "Records of `events` read by training runs from their offset range, by outcome (read: kept for training; old: older than TRAIN_WINDOW_MAX_AGE; shredded: sealed with an erased user's key; invalid).",
      labelNames: ["outcome"],
      registers,
    }),
  };
}

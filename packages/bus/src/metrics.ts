import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface ConsumerMetrics {
  messages: Counter<"group" | "topic" | "outcome">;
  deadLetters: Counter<"group" | "topic" | "reason">;
  deadLetterFailures: Counter<"group" | "topic">;
  restarts: Counter<"group">;
  rewinds: Counter<"group" | "topic">;
  batchSeconds: Histogram<"group" | "topic">;
  lag: Map<string, { group: string; topic: string; partition: number; lag: number }>;
}

const cache = new WeakMap<Registry, ConsumerMetrics>();

/** Consumer metrics on the process registry; lag is sampled from the latest batch at scrape time. */
export function consumerMetrics(registry: Registry): ConsumerMetrics {
  const cached = cache.get(registry);
  if (cached) return cached;
  const lag: ConsumerMetrics["lag"] = new Map();
  const metrics: ConsumerMetrics = {
    messages: new Counter({
      name: "recfleet_consumer_messages_total",
      help: "Messages consumed, by outcome (processed|dead_lettered).",
      labelNames: ["group", "topic", "outcome"],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: "recfleet_consumer_dead_letters_total",
      help: "Messages sent to the dead-letter topic, by reason code.",
      labelNames: ["group", "topic", "reason"],
      registers: [registry],
    }),
    deadLetterFailures: new Counter({
      name: "recfleet_consumer_dead_letter_failures_total",
      help: "Dead letters that could not be written after bounded retries and were skipped (logged with their offsets).",
      labelNames: ["group", "topic"],
      registers: [registry],
    }),
    restarts: new Counter({
      name: "recfleet_consumer_restarts_total",
      help: "Restarts of a consumer that crashed with an error kafkajs does not restart after.",
      labelNames: ["group"],
      registers: [registry],
    }),
    rewinds: new Counter({
      name: "recfleet_consumer_rewinds_total",
      help: "Batches not committed because the handler rewound its partition (its state was behind the consumer, e.g. Redis restarted empty).",
      labelNames: ["group", "topic"],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: "recfleet_consumer_batch_seconds",
      help: "Time to process one fetched batch, effects and commit included.",
      labelNames: ["group", "topic"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag,
  };
  new Gauge({
    name: "recfleet_consumer_lag_messages",
    help: "High watermark minus the next offset to process, per partition, as of the last batch.",
    labelNames: ["group", "topic", "partition"],
    registers: [registry],
    collect() {
      this.reset();
      for (const l of lag.values()) this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag);
    },
  });
  cache.set(registry, metrics);
  return metrics;
}

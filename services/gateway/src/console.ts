/**
 * What the console shows, gathered by the gateway: each worker's /metrics, /healthz and /readyz
 * (GATEWAY_CONSOLE_TARGETS), the model registry, and per-policy click statistics from Redis.
 * Samples are kept in a ring (300) so throughput and CTR can be drawn over time with the one
 * chart module; the page polls /v1/admin/overview.
 */
import { lineChart, renderSvg } from "@recfleet/charts";

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (comments and malformed lines skipped). */
export function parsePrometheus(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = Number(m[4]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

const sum = (
  samples: readonly MetricSample[],
  name: string,
  where: (l: Record<string, string>) => boolean = () => true,
) => samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);

export interface WorkerStatus {
  name: string;
  url: string;
  healthy: boolean;
  ready: boolean;
  readyDetail: string;
  /** The counters the console shows, as this scrape read them. */
  counters: Record<string, number>;
}

export interface PolicyStats {
  policy: string;
  impressions: number;
  clicks: number;
  ctr: number;
  /** Clicks over the model's expected clicks (Σ σ(score)) for the same impressions. */
  lift: number | null;
  /** Share of known items this policy has shown at least once. */
  coverage: number;
}

export interface ModelRow {
  version: string;
  status: string;
  current: boolean;
  createdAt: number;
  metrics: Record<string, number>;
}

export interface ConsoleSources {
  targets: readonly { name: string; url: string }[];
  models(): Promise<ModelRow[]>;
  policies(): Promise<PolicyStats[]>;
  fetch?: typeof fetch;
  now?: () => number;
}

interface Sample {
  at: number;
  events: number;
  recommendations: number;
  ctr: Record<string, number>;
}

const TRACKED = {
  ingestEvents: ["recfleet_ingest_events_total", (l: Record<string, string>) => l.outcome !== "rejected"],
  recommendations: ["recfleet_scorer_recommendations_total", () => true],
  gatewayRequests: ["recfleet_gateway_requests_total", () => true],
} as const;

export interface FleetConsole {
  /** Scrapes now, appends a sample, returns the overview the page shows. */
  overview(): Promise<unknown>;
}

export function createFleetConsole(sources: ConsoleSources): FleetConsole {
  const get = sources.fetch ?? fetch;
  const now = sources.now ?? Date.now;
  const samples: Sample[] = [];
  const scrape = async (t: { name: string; url: string }) => {
    const text = async (path: string) => {
      const res = await get(`${t.url}${path}`, { signal: AbortSignal.timeout(1500) }).catch(() => undefined);
      return res ? { status: res.status, body: await res.text() } : { status: 0, body: "unreachable" };
    };
    const [metrics, health, ready] = await Promise.all([text("/metrics"), text("/healthz"), text("/readyz")]);
    return { target: t, samples: metrics.status === 200 ? parsePrometheus(metrics.body) : [], health, ready };
  };

  return {
    async overview() {
      const at = now();
      const [scrapes, models, policies] = await Promise.all([
        Promise.all(sources.targets.map(scrape)),
        sources.models(),
        sources.policies(),
      ]);
      const all = scrapes.flatMap((s) => s.samples);
      const workers: WorkerStatus[] = scrapes.map((s) => ({
        name: s.target.name,
        url: s.target.url,
        healthy: s.health.status === 200,
        ready: s.ready.status === 200,
        readyDetail: s.ready.body.trim().slice(0, 200),
        counters: Object.fromEntries(
          Object.entries(TRACKED).map(([key, [name, where]]) => [key, sum(s.samples, name, where)]),
        ),
      }));
      const lag: Record<string, number> = {};
      for (const s of all.filter((x) => x.name === "recfleet_consumer_lag_messages"))
        lag[s.labels.group ?? "?"] = (lag[s.labels.group ?? "?"] ?? 0) + s.value;
      const deadLetters: Record<string, number> = {};
      for (const s of all.filter((x) => x.name === "recfleet_consumer_dead_letters_total"))
        deadLetters[s.labels.reason ?? "?"] = (deadLetters[s.labels.reason ?? "?"] ?? 0) + s.value;
      const totals = {
        events: sum(all, TRACKED.ingestEvents[0], TRACKED.ingestEvents[1]),
        recommendations: sum(all, TRACKED.recommendations[0]),
      };
      samples.push({ at, ...totals, ctr: Object.fromEntries(policies.map((p) => [p.policy, p.ctr])) });
      if (samples.length > 300) samples.shift();
      const rate = (pick: (s: Sample) => number): [number, number][] =>
        samples.slice(1).map((s, i) => {
          const prev = samples[i]!;
          const seconds = Math.max(0.001, (s.at - prev.at) / 1000);
          return [(s.at - at) / 1000, Math.max(0, (pick(s) - pick(prev)) / seconds)];
        });
      const throughput = renderSvg(
        lineChart({
          title: "Throughput",
          xLabel: "seconds before now",
          yLabel: "per second",
          yInclude: 0,
          width: 560,
          height: 260,
          series: [
            { name: "events ingested / s", points: rate((s) => s.events) },
            { name: "recommendations served / s", points: rate((s) => s.recommendations) },
          ],
        }),
      );
      const ctr = renderSvg(
        lineChart({
          title: "CTR per policy (clicks / impressions, cumulative)",
          xLabel: "seconds before now",
          yLabel: "CTR",
          yInclude: 0,
          width: 560,
          height: 260,
          series: policies.map((p) => ({
            name: p.policy,
            points: samples
              .filter((s) => s.ctr[p.policy] !== undefined)
              .map((s): [number, number] => [(s.at - at) / 1000, s.ctr[p.policy]!]),
          })),
        }),
      );
      return { at, workers, lag, deadLetters, totals, models, policies, charts: { throughput, ctr } };
    },
  };
}

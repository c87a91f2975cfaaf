/**
 * Alerts (a prometheus-operator PrometheusRule) and the Grafana dashboard, written against the
 * workers' metric names. test/e2e/metric-names.test.ts scrapes real workers and fails when an
 * expression here names a metric no worker exports.
 */
import type { DeployOptions } from "./fleet";
import type { Manifest } from "./kubernetes";

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: "warning" | "critical" };
  annotations: { summary: string; runbook: string };
}

const SCORER_REQUESTS = 'sum(rate(recfleet_consumer_messages_total{group=~".+\\\\.scorer",outcome="processed"}[5m]))';

/** Each alert's runbook line is what docs/deploy.md expands on. */
export const ALERT_RULES: readonly AlertRule[] = [
  {
    alert: "RecfleetConsumerLagGrowing",
    expr: "sum by (group) (deriv(recfleet_consumer_lag_messages[10m])) > 0 and sum by (group) (recfleet_consumer_lag_messages) > 1000",
    for: "10m",
    labels: { severity: "warning" },
    annotations: {
      summary: "Consumer group {{ $labels.group }} falls behind its input ({{ $value }} more messages per second).",
      runbook: "Check KEDA scaled the worker (capped at the partition count), then the worker's batch time.",
    },
  },
  {
    alert: "RecfleetDeadLetters",
    expr: "sum by (group, reason) (rate(recfleet_consumer_dead_letters_total[5m])) > 1",
    for: "10m",
    labels: { severity: "warning" },
    annotations: {
      summary: "{{ $labels.group }} dead-letters {{ $value }}/s with reason {{ $labels.reason }}.",
      runbook: "Read the DLQ headers (reason, source offset) and fix the producer sending that input.",
    },
  },
  {
    alert: "RecfleetDeadLetterWritesFailing",
    expr: "sum by (group) (increase(recfleet_consumer_dead_letter_failures_total[10m])) > 0",
    for: "0m",
    labels: { severity: "critical" },
    annotations: {
      summary: "{{ $labels.group }} could not write dead letters; the skipped offsets are in its log.",
      runbook: "Check the DLQ topic exists and the worker's KafkaUser may write it.",
    },
  },
  {
    alert: "RecfleetUnansweredRequests",
    expr: `${SCORER_REQUESTS} - sum(rate(recfleet_scorer_recommendations_total[5m])) > 0.01 * ${SCORER_REQUESTS}`,
    for: "10m",
    labels: { severity: "critical" },
    annotations: {
      summary: "More than 1% of recommendation requests are consumed without an answer.",
      runbook: "Look for scorer errors in the logs and for requests past their deadline.",
    },
  },
  {
    alert: "RecfleetScorerLatencyHigh",
    expr: "histogram_quantile(0.99, sum by (le) (rate(recfleet_scorer_request_latency_seconds_bucket[5m]))) > 0.25",
    for: "10m",
    labels: { severity: "warning" },
    annotations: {
      summary: "Scorer p99 (request time to answer) is {{ $value }} s.",
      runbook: "Check rec.requests lag (more scorers up to the partition count) and the scorer's batch time.",
    },
  },
  {
    alert: "RecfleetModelStale",
    expr: "max(recfleet_trainer_model_age_seconds) > 86400",
    for: "30m",
    labels: { severity: "warning" },
    annotations: {
      summary: "The serving model is {{ $value }} s old.",
      runbook: "Check the trainer's runs and rejections (recfleet_trainer_rejections_total by reason).",
    },
  },
  {
    alert: "RecfleetConsumerRestarting",
    expr: "sum by (group) (increase(recfleet_consumer_restarts_total[15m])) > 3",
    for: "0m",
    labels: { severity: "warning" },
    annotations: {
      summary: "Consumer group {{ $labels.group }} restarted its consumer {{ $value }} times in 15 minutes.",
      runbook: "The broker or the network is flapping: check broker health and the worker's log.",
    },
  },
  {
    alert: "RecfleetRegistryLost",
    expr: "max(recfleet_scorer_registry_lost) > 0",
    for: "5m",
    labels: { severity: "critical" },
    annotations: {
      summary: "A scorer serves a model version the registry no longer has (Redis lost data).",
      runbook: "Retrain (`npx recfleet train --wait`) or roll back to a version the registry holds.",
    },
  },
];

export function prometheusRule(o: DeployOptions): Manifest {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "recfleet",
      namespace: o.kubeNamespace,
      labels: { "app.kubernetes.io/part-of": "recfleet" },
    },
    spec: { groups: [{ name: "recfleet", rules: ALERT_RULES.map((r) => ({ ...r })) }] },
  };
}

interface Panel {
  title: string;
  unit: string;
  targets: { expr: string; legend: string }[];
}

export const DASHBOARD_PANELS: readonly Panel[] = [
  {
    title: "Throughput by consumer group",
    unit: "ops",
    targets: [{ expr: "sum by (group) (rate(recfleet_consumer_messages_total[1m]))", legend: "{{group}}" }],
  },
  {
    title: "Consumer lag",
    unit: "short",
    targets: [{ expr: "sum by (group) (recfleet_consumer_lag_messages)", legend: "{{group}}" }],
  },
  {
    title: "Dead letters by reason",
    unit: "ops",
    targets: [
      {
        expr: "sum by (group, reason) (rate(recfleet_consumer_dead_letters_total[5m]))",
        legend: "{{group}} {{reason}}",
      },
    ],
  },
  {
    title: "Scorer latency (request time to answer)",
    unit: "s",
    targets: [
      {
        expr: "histogram_quantile(0.5, sum by (le) (rate(recfleet_scorer_request_latency_seconds_bucket[1m])))",
        legend: "p50",
      },
      {
        expr: "histogram_quantile(0.99, sum by (le) (rate(recfleet_scorer_request_latency_seconds_bucket[1m])))",
        legend: "p99",
      },
    ],
  },
  {
    title: "Recommendations by policy",
    unit: "ops",
    targets: [
      {
        expr: "sum by (policy, kind) (rate(recfleet_scorer_recommendations_total[1m]))",
        legend: "{{policy}} {{kind}}",
      },
    ],
  },
  {
    title: "Model version served",
    unit: "short",
    targets: [{ expr: "count by (version) (recfleet_scorer_model_info == 1)", legend: "{{version}}" }],
  },
  {
    title: "Promotion gate: candidate vs current",
    unit: "percentunit",
    targets: [
      { expr: "max by (metric) (recfleet_trainer_candidate_metric)", legend: "candidate {{metric}}" },
      { expr: "max by (metric) (recfleet_trainer_current_metric)", legend: "current {{metric}}" },
    ],
  },
  {
    title: "Promotions and rejections",
    unit: "short",
    targets: [
      { expr: "sum(increase(recfleet_trainer_promotions_total[1h]))", legend: "promoted" },
      { expr: "sum by (reason) (increase(recfleet_trainer_rejections_total[1h]))", legend: "rejected {{reason}}" },
    ],
  },
  {
    title: "Worker memory (RSS)",
    unit: "bytes",
    targets: [
      { expr: "sum by (service, pod) (recfleet_process_resident_memory_bytes)", legend: "{{service}} {{pod}}" },
    ],
  },
];

/** A Grafana dashboard (schema 39) over a Prometheus data source chosen at import. */
export function grafanaDashboard(): Record<string, unknown> {
  const panels = DASHBOARD_PANELS.map((p, i) => ({
    id: i + 1,
    type: "timeseries",
    title: p.title,
    datasource: { type: "prometheus", uid: "${datasource}" },
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    targets: p.targets.map((t, j) => ({
      refId: String.fromCharCode(65 + j),
      expr: t.expr,
      legendFormat: t.legend,
      datasource: { type: "prometheus", uid: "${datasource}" },
    })),
  }));
  return {
    title: "recfleet",
    uid: "recfleet-fleet",
    schemaVersion: 39,
    version: 1,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    tags: ["recfleet"],
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" }],
    },
    panels,
  };
}

/** Metric names an expression reads (histogram series map back to the histogram's name). */
export function metricNamesIn(expr: string): string[] {
  const names = expr.match(/\brecfleet_[a-z0-9_]+/g) ?? [];
  return [...new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, "")))];
}

/** Every recfleet metric the alerts and the dashboard read. */
export function monitoredMetricNames(): string[] {
  const exprs = [...ALERT_RULES.map((r) => r.expr), ...DASHBOARD_PANELS.flatMap((p) => p.targets.map((t) => t.expr))];
  return [...new Set(exprs.flatMap(metricNamesIn))].sort();
}

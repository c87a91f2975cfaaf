import { Registry, collectDefaultMetrics } from "prom-client";

/** One registry per process, with Node's default metrics under the service prefix. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: "recfleet_" });
  return registry;
}

export const TOPIC_BASE_NAMES = ["clickstream", "clickstream.dlq", "events", "events.dlq", "rec.requests", "rec.requests.dlq", "recommendations", "rec.log", "model.versions"] as const;
export type TopicKey = "clickstream" | "clickstreamDlq" | "events" | "eventsDlq" | "recRequests" | "recRequestsDlq" | "recommendations" | "recLog" | "modelVersions";

export type TopicNames = Record<TopicKey, string>;

/** Topic names under a namespace ("" → bare names), so several fleets or tests share a broker. */
export function topicNames(namespace = "recfleet"): TopicNames {
  const name = (base: string) => (namespace ? `${namespace}.${base}` : base);
  return {
    clickstream: name("clickstream"),
    clickstreamDlq: name("clickstream.dlq"),
    events: name("events"),
    eventsDlq: name("events.dlq"),
    recRequests: name("rec.requests"),
    recRequestsDlq: name("rec.requests.dlq"),
    recommendations: name("recommendations"),
    /** The scorer's decision log (candidates, stats, propensities) for off-policy evaluation. */
    recLog: name("rec.log"),
    modelVersions: name("model.versions"),
  };
}

export {
  createHttpClient,
  RecfleetClientError,
  type EventInput,
  type EventResult,
  type EventResults,
  type HttpClientOptions,
  type RecfleetClient,
  type RecommendParams,
} from "./client";
export type { Recommendation, RecommendedItem, ClickstreamEvent } from "@recfleet/contracts";

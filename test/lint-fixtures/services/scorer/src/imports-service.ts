// A service importing another service.
import { toFeatureEvent } from "@recfleet/features";

export const convert = toFeatureEvent;

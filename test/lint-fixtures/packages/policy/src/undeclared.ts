// policy does not declare @recfleet/runtime in its package.json.
import { errorMessage } from "@recfleet/runtime";

export const message = errorMessage(new Error("x"));

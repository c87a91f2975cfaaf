// Breaks no rule: a declared import from a lower package, and every promise awaited.
import { errorMessage } from "@recfleet/runtime";

async function flush(): Promise<string> {
  return errorMessage(new Error("flushed"));
}

export async function close(): Promise<string> {
  return await flush();
}

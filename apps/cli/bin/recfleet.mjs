#!/usr/bin/env node
// `npx recfleet …`: runs the TypeScript CLI through tsx (no build step).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Errors marked non-retriable (a missing prerequisite, bad input, bad config) carry a message
  // that says what to do; a stack trace would only bury it.
  if (err instanceof Error && err.retriable === false) {
    console.error(`recfleet: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}

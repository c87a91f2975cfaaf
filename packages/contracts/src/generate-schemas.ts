/** Writes packages/contracts/schemas/*.json from the specs (run: npm run schemas). */
import { writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MESSAGE_SPECS } from "./messages";
import { toJsonSchema } from "./schema";

export function schemaFiles(): Map<string, string> {
  return new Map(
    MESSAGE_SPECS.map((spec) => [`${spec.name}.json`, JSON.stringify(toJsonSchema(spec), null, 2) + "\n"]),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = fileURLToPath(new URL("../schemas/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of schemaFiles()) writeFileSync(dir + name, text);
  console.log(`wrote ${MESSAGE_SPECS.length} schemas to ${dir}`);
}

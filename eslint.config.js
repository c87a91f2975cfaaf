// Lint: typescript-eslint's recommended rules as errors. `any` escapes are banned, no package
// may reach into another package's internals (import the package by name instead), workspace
// imports follow the layers (eslint-rules.js), and no promise is left floating.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import recfleet from "./eslint-rules.js";

export default tseslint.config(
  {
    // test/lint-fixtures break rules on purpose (test/lint-rules.test.ts lints them).
    ignores: ["test/lint-fixtures/**"],
  },
  { ignores: ["**/node_modules/**", "**/.cache/**", "**/out/**", ".recfleet/**", "bin/**", ".scratch*/**"] },
  js.configs.recommended,
  { files: ["**/*.mjs", "**/*.js"], languageOptions: { globals: { process: "readonly", console: "readonly" } } },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    // Type information for no-floating-promises: an unawaited promise loses its rejection.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { recfleet },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        // node:test's test() and describe() return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it"] }],
        },
      ],
      "recfleet/declared-dependency": "error",
      "recfleet/layers": "error",
      "recfleet/no-cycle": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@recfleet/*/src/*", "**/packages/*/src/*", "../../packages/*", "../../../packages/*"],
              message: "Import a workspace package by name (its index.ts), not its internals.",
            },
          ],
        },
      ],
    },
  },
  {
    // Kafka clients (kafkajs, and the candidate measured in bench/kafka-client.ts) stay behind packages/bus.
    files: ["**/*.ts"],
    ignores: ["packages/bus/**", "bench/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "kafkajs", message: "Use @recfleet/bus; kafkajs stays behind packages/bus." },
            { name: "@platformatic/kafka", message: "Use @recfleet/bus; Kafka clients stay behind packages/bus." },
          ],
          patterns: [
            { group: ["@recfleet/*/src/*", "**/packages/*/src/*"], message: "Import a workspace package by name." },
          ],
        },
      ],
    },
  },
);

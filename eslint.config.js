// Lint: typescript-eslint's recommended rules as errors. `any` escapes are banned, and no
// package may reach into another package's internals (import the package by name instead).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/.cache/**", "**/out/**", ".recfleet/**", "bin/**", ".scratch*/**"] },
  js.configs.recommended,
  { files: ["**/*.mjs", "**/*.js"], languageOptions: { globals: { process: "readonly", console: "readonly" } } },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@recfleet/*/src/*", "**/packages/*/src/*", "../../packages/*", "../../../packages/*"], message: "Import a workspace package by name (its index.ts), not its internals." },
          ],
        },
      ],
    },
  },
  {
    // kafkajs stays behind packages/bus: the rest of the code never imports it.
    files: ["**/*.ts"],
    ignores: ["packages/bus/**", "bench/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [{ name: "kafkajs", message: "Use @recfleet/bus; kafkajs stays behind packages/bus." }],
          patterns: [{ group: ["@recfleet/*/src/*", "**/packages/*/src/*"], message: "Import a workspace package by name." }],
        },
      ],
    },
  },
);

// Lint rules for the workspace layering (docs/architecture.md, "Layers"). They read the
// workspaces' package.json files, so the declared dependencies are the graph they check:
//   recfleet/declared-dependency  a workspace imports only the @recfleet/* packages its package.json declares;
//   recfleet/layers               packages and services import only packages; apps import anything;
//   recfleet/no-cycle             no import of a workspace that depends (transitively) back on the importer.
// Because every import must be declared, an acyclic declared graph means acyclic imports.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(fileURLToPath(import.meta.url));
const LAYERS = ["apps", "packages", "services"];
// Files under this folder are linted as if they sat at the path below it (test/lint-rules.test.ts).
const FIXTURES = "test/lint-fixtures/";

let cached;
function workspaces() {
  if (cached) return cached;
  const byName = new Map();
  const byDir = new Map();
  for (const layer of LAYERS) {
    if (!existsSync(join(ROOT, layer))) continue;
    for (const entry of readdirSync(join(ROOT, layer))) {
      const file = join(ROOT, layer, entry, "package.json");
      if (!existsSync(file)) continue;
      const json = JSON.parse(readFileSync(file, "utf8"));
      const declared = Object.keys({ ...json.dependencies, ...json.devDependencies });
      const deps = declared.filter((d) => d.startsWith("@recfleet/"));
      const ws = { name: json.name, layer, dir: `${layer}/${entry}`, deps };
      byName.set(ws.name, ws);
      byDir.set(ws.dir, ws);
    }
  }
  cached = { byName, byDir };
  return cached;
}

function workspaceOf(filename) {
  let rel = relative(ROOT, filename).split(sep).join("/");
  if (rel.startsWith(FIXTURES)) rel = rel.slice(FIXTURES.length);
  const m = /^(apps|packages|services)\/([^/]+)\//.exec(rel);
  return m ? workspaces().byDir.get(`${m[1]}/${m[2]}`) : undefined;
}

function packageName(specifier) {
  const m = /^(@recfleet\/[^/]+)/.exec(specifier);
  return m ? m[1] : undefined;
}

/** A path of declared dependencies from `from` to `to`, or undefined. */
function dependencyPath(from, to, seen = new Set()) {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const dep of workspaces().byName.get(from)?.deps ?? []) {
    const rest = dependencyPath(dep, to, seen);
    if (rest) return [from, ...rest];
  }
  return undefined;
}

const LAYER_NAME = { apps: "an app", packages: "a package", services: "a service" };
const MAY_IMPORT = { apps: LAYERS, packages: ["packages"], services: ["packages"] };

/** Builds a rule that calls `check(importer, target, node)` for every import of another workspace. */
function workspaceRule(description, messages, check) {
  return {
    meta: { type: "problem", docs: { description }, schema: [], messages },
    create(context) {
      const importer = workspaceOf(context.filename);
      if (!importer) return {};
      const visit = (node) => {
        const source = node.source;
        if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
        const name = packageName(source.value);
        if (!name || name === importer.name) return;
        check(context, importer, name, source);
      };
      return {
        ImportDeclaration: visit,
        ExportNamedDeclaration: visit,
        ExportAllDeclaration: visit,
        ImportExpression: visit,
      };
    },
  };
}

export const rules = {
  "declared-dependency": workspaceRule(
    "@recfleet/* imports must be declared in the workspace's package.json",
    { undeclared: "{{target}} is not in {{importer}}'s package.json (dependencies or devDependencies)." },
    (context, importer, target, node) => {
      if (importer.deps.includes(target)) return;
      context.report({ node, messageId: "undeclared", data: { importer: importer.name, target } });
    },
  ),
  layers: workspaceRule(
    "packages import only packages, services only packages, apps anything",
    { layer: "{{importer}} is {{importerLayer}} and may not import {{target}} ({{targetLayer}})." },
    (context, importer, target, node) => {
      const t = workspaces().byName.get(target);
      if (!t || MAY_IMPORT[importer.layer].includes(t.layer)) return;
      const data = { importer: importer.name, target };
      Object.assign(data, { importerLayer: LAYER_NAME[importer.layer], targetLayer: LAYER_NAME[t.layer] });
      context.report({ node, messageId: "layer", data });
    },
  ),
  "no-cycle": workspaceRule(
    "no import cycles between workspaces",
    { cycle: "importing {{target}} closes a cycle: {{path}}." },
    (context, importer, target, node) => {
      const back = dependencyPath(target, importer.name);
      if (!back) return;
      context.report({ node, messageId: "cycle", data: { target, path: [importer.name, ...back].join(" → ") } });
    },
  ),
};

export default { meta: { name: "recfleet" }, rules };

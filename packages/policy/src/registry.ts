// Policy ids and traffic splits.
//
// Spec grammar:  kind[:value][,key=value...][+modifier:value[,value]...]
//   greedy | epsilon:0.1 | softmax:0.05 | ucb[:width] | thompson[:samples] | linucb:1.0 | lints[:scale]
//   keys:      prior=α0  tau=score temperature  cap=max evidence  lift=1 (evidence "lift")
//              samples=S  width  scale  model=modelWeight
//   modifiers: +budget:m  +cold:boost[,windowMs]  +mmr:weight
// e.g. "thompson:64,prior=5+budget:2+mmr:0.05". A policy's id is its canonical spec.
import { hashString } from "@recfleet/numeric";
import { checkBound, describeBound, POLICY_BOUNDS, type BoundedParameter } from "./bounds.js";
import { PolicyConfigError } from "./errors.js";
import { linTsPolicy, linUcbPolicy, type LinearPolicyOptions, type LinTsOptions } from "./linear.js";
import {
  epsilonGreedyPolicy,
  greedyPolicy,
  softmaxPolicy,
  thompsonPolicy,
  ucbPolicy,
  type ThompsonOptions,
  type UcbOptions,
} from "./policies.js";
import type { SlatePolicy, SlateOptions } from "./slate.js";

export type PolicySpec = { slate?: SlateOptions } & (
  | { kind: "greedy" }
  | { kind: "epsilon"; epsilon: number }
  | { kind: "softmax"; temperature: number }
  | ({ kind: "ucb" } & UcbOptions)
  | ({ kind: "thompson" } & ThompsonOptions)
  | ({ kind: "linucb"; alpha: number } & LinearPolicyOptions)
  | ({ kind: "lints" } & LinTsOptions)
);

const KEY_NAMES: Record<string, BoundedParameter> = {
  prior: "priorStrength",
  tau: "scoreTemperature",
  cap: "maxEvidence",
  samples: "samples",
  width: "width",
  scale: "scale",
  model: "modelWeight",
};

/** Every number in a spec is checked against its bound here, before any policy is built. */
function parseNumber(option: BoundedParameter, text: string | undefined): number {
  const value = text === undefined || text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(value)) throw new PolicyConfigError(option, text, describeBound(POLICY_BOUNDS[option]));
  return checkBound(option, value);
}

/** Parse a spec string (see the grammar at the top of this file). */
export function parsePolicySpec(text: string): PolicySpec {
  const [head = "", ...modifiers] = text.trim().split("+");
  const colon = head.indexOf(":");
  const kind = (colon < 0 ? head : head.slice(0, colon)).trim();
  const args = colon < 0 ? [] : head.slice(colon + 1).split(",");
  const positional = args[0] !== undefined && !args[0].includes("=") ? args.shift() : undefined;
  const named: Record<string, number> = {};
  let lift: number | undefined;
  const priorEvidence = (): { evidence?: "ctr" | "lift" } =>
    lift === undefined ? {} : { evidence: lift === 1 ? "lift" : "ctr" };
  for (const arg of args) {
    const [key = "", value] = arg.split("=");
    if (key.trim() === "lift") {
      lift = parseNumber("lift", value);
      continue;
    }
    const name = KEY_NAMES[key.trim()];
    if (name === undefined)
      throw new PolicyConfigError("policy spec key", key, `one of ${Object.keys(KEY_NAMES).join(", ")}`);
    named[name] = parseNumber(name, value);
  }

  const slate: SlateOptions = {};
  for (const modifier of modifiers) {
    const [name = "", value = ""] = modifier.split(":");
    const values = value.split(",");
    switch (name.trim()) {
      case "budget":
        slate.explorationBudget = parseNumber("explorationBudget", values[0]);
        break;
      case "cold":
        slate.coldStart = {
          boost: parseNumber("coldStart.boost", values[0]),
          windowMs: values[1] === undefined ? 0 : parseNumber("coldStart.windowMs", values[1]),
        };
        break;
      case "mmr":
        slate.mmr = { weight: parseNumber("mmr.weight", values[0]) };
        break;
      default:
        throw new PolicyConfigError("policy spec modifier", name, "budget, cold or mmr");
    }
  }

  switch (kind) {
    case "greedy":
      return { kind, slate };
    case "epsilon":
      return { kind, epsilon: parseNumber("epsilon", positional), slate };
    case "softmax":
      return { kind, temperature: parseNumber("temperature", positional), slate };
    case "ucb":
      return {
        kind,
        ...named,
        ...priorEvidence(),
        ...(positional === undefined ? {} : { width: parseNumber("width", positional) }),
        slate,
      };
    case "thompson":
      return {
        kind,
        ...named,
        ...priorEvidence(),
        ...(positional === undefined ? {} : { samples: parseNumber("samples", positional) }),
        slate,
      };
    case "linucb":
      return { kind, ...named, alpha: positional === undefined ? 1 : parseNumber("alpha", positional), slate };
    case "lints":
      return {
        kind,
        ...named,
        ...(positional === undefined ? {} : { scale: parseNumber("scale", positional) }),
        slate,
      };
    default:
      throw new PolicyConfigError("policy kind", kind, "greedy, epsilon, softmax, ucb, thompson, linucb or lints");
  }
}

/** Build a policy from a spec string (e.g. "epsilon:0.1") or a PolicySpec object. */
export function createPolicy(spec: string | PolicySpec): SlatePolicy {
  const parsed = typeof spec === "string" ? parsePolicySpec(spec) : spec;
  const slate = parsed.slate ?? {};
  switch (parsed.kind) {
    case "greedy":
      return greedyPolicy(slate);
    case "epsilon":
      return epsilonGreedyPolicy(parsed.epsilon, slate);
    case "softmax":
      return softmaxPolicy(parsed.temperature, slate);
    case "ucb":
      return ucbPolicy(parsed, slate);
    case "thompson":
      return thompsonPolicy(parsed, slate);
    case "linucb":
      return linUcbPolicy(parsed.alpha, parsed, slate);
    case "lints":
      return linTsPolicy(parsed, slate);
  }
}

export type PolicyLookup =
  { ok: true; policy: SlatePolicy } | { ok: false; reason: "unknown_policy" | "policy_not_allowed"; detail: string };

/** The policies an operator allows, compared by canonical id (equivalent specs are one policy). */
export interface AllowedPolicies {
  /** Canonical ids, in the order first given. */
  readonly ids: readonly string[];
  /** The allowed policy a spec names; one instance per id, so holding them is bounded by the set. */
  lookup(spec: string): PolicyLookup;
}

/** Throws PolicyConfigError for a spec that does not parse: a bad setting should stop the start. */
export function allowPolicies(specs: readonly string[]): AllowedPolicies {
  const byId = new Map<string, SlatePolicy>();
  // The strings the operator wrote and the canonical ids resolve without parsing a spec again.
  const bySpec = new Map<string, SlatePolicy>();
  for (const spec of specs) {
    const created = createPolicy(spec);
    const policy = byId.get(created.id) ?? created;
    byId.set(policy.id, policy);
    bySpec.set(spec.trim(), policy);
    bySpec.set(policy.id, policy);
  }
  const ids = [...byId.keys()];
  return {
    ids,
    lookup(spec) {
      const known = bySpec.get(spec);
      if (known) return { ok: true, policy: known };
      let id: string;
      try {
        id = createPolicy(spec).id;
      } catch (err) {
        const problem = (err instanceof Error ? err.message : String(err)).slice(0, 120);
        const detail = `${JSON.stringify(spec.slice(0, 80))} is not a policy spec: ${problem}`;
        return { ok: false, reason: "unknown_policy", detail };
      }
      const policy = byId.get(id);
      if (policy) return { ok: true, policy };
      const detail = `policy ${JSON.stringify(id.slice(0, 80))} is not allowed here; allowed: ${ids.join("; ")}`;
      return { ok: false, reason: "policy_not_allowed", detail };
    },
  };
}

export interface TrafficShare {
  policy: string;
  weight: number;
}

/**
 * A traffic split such as "greedy:1,thompson:3". The weight is after the last colon of an entry
 * when that is a number, else the entry weighs 1 — so a spec with a value needs a weight too:
 * "epsilon:0.1:1". Entries are separated by ";" when the text has one, else by ","; use ";" when
 * a spec has commas of its own: "greedy:1;thompson:16,lift=1:1".
 */
export function parseTrafficSplit(text: string): TrafficShare[] {
  const expected = 'entries "spec:weight" separated by "," or ";", weights ≥ 0 and at least one > 0';
  const entries = text.split(text.includes(";") ? ";" : ",").map((entry) => entry.trim());
  const split = entries.map((entry) => {
    const at = entry.lastIndexOf(":");
    const weight = at > 0 ? Number(entry.slice(at + 1)) : NaN;
    const hasWeight = Number.isFinite(weight) && entry.slice(at + 1).trim() !== "";
    return hasWeight ? { policy: entry.slice(0, at).trim(), weight } : { policy: entry, weight: 1 };
  });
  const total = split.reduce((sum, share) => sum + share.weight, 0);
  const invalid = split.some((share) => share.policy === "" || share.weight < 0) || !(total > 0);
  if (invalid) throw new PolicyConfigError("traffic split", text, expected);
  return split;
}

/**
 * Which policy serves this user: a stable hash of the user key mapped onto the cumulative
 * weights, so a user always lands on the same arm and arms get traffic in proportion to weight.
 * `salt` re-draws the assignment for a new experiment without changing the key.
 */
export function assignPolicy(userKey: string, split: readonly TrafficShare[], salt = ""): string {
  let total = 0;
  for (const share of split) {
    if (!(share.weight >= 0 && Number.isFinite(share.weight)))
      throw new PolicyConfigError(`split weight of ${share.policy}`, share.weight, "a finite number ≥ 0");
    total += share.weight;
  }
  if (!(total > 0)) throw new PolicyConfigError("split", split, "at least one share with weight > 0");
  const point = (hashString(salt + "\u0000" + userKey) / 4294967296) * total;
  let cumulative = 0;
  let last = "";
  for (const share of split) {
    if (share.weight <= 0) continue;
    cumulative += share.weight;
    last = share.policy;
    if (point < cumulative) return share.policy;
  }
  return last;
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PolicyConfigError } from "./errors.js";
import { allowPolicies, assignPolicy, createPolicy, parsePolicySpec, parseTrafficSplit } from "./registry.js";

describe("createPolicy", () => {
  it("parses the documented ids", () => {
    const cases: [string, string][] = [
      ["greedy", "greedy"],
      ["epsilon:0.1", "epsilon:0.1"],
      ["softmax:0.05", "softmax:0.05"],
      ["ucb", "ucb:2"],
      ["thompson", "thompson:100"],
      ["thompson:32,lift=1,prior=5", "thompson:32,prior=5,lift=1"],
      ["linucb:1.0", "linucb:1"],
      ["lints", "lints:0.25"],
      ["epsilon:0.2+budget:2+mmr:0.3", "epsilon:0.2+budget:2+mmr:0.3"],
      ["softmax:1+cold:0.5,60000", "softmax:1+cold:0.5,60000"],
    ];
    for (const [spec, id] of cases) {
      const policy = createPolicy(spec);
      assert.equal(policy.id, id, spec);
      // The id is itself a spec for the same policy.
      assert.equal(createPolicy(policy.id).id, id);
    }
  });

  it("accepts PolicySpec objects", () => {
    assert.equal(
      createPolicy({ kind: "epsilon", epsilon: 0.25, slate: { explorationBudget: 1 } }).id,
      "epsilon:0.25+budget:1",
    );
    assert.deepEqual(parsePolicySpec("softmax:0.5"), { kind: "softmax", temperature: 0.5, slate: {} });
  });

  it("rejects unknown kinds, keys and bad numbers with PolicyConfigError", () => {
    for (const bad of [
      "boltzmann",
      "epsilon",
      "epsilon:abc",
      "epsilon:2",
      "ucb:1,foo=2",
      "greedy+wat:1",
      "thompson:0",
      "softmax:-1",
    ]) {
      assert.throws(() => createPolicy(bad), PolicyConfigError, bad);
    }
  });

  // thompson:999999 made one scoring call take ~14 s and ~1 GB: past the consumer's session
  // timeout, so the batch was never committed and was scored again forever.
  it("bounds every parameter, naming it, its value and the allowed range", () => {
    const cases: [spec: string, option: string, range: string][] = [
      ["thompson:999999", "samples", "[1, 1000]"],
      ["lints:0.2,samples=5000", "samples", "[1, 1000]"],
      ["thompson:16,prior=1e300", "priorStrength", "(0, 1000000]"],
      ["ucb:1,tau=1e9", "scoreTemperature", "(0, 100]"],
      ["ucb:1,cap=1e12", "maxEvidence", "(0, 1000000000]"],
      ["ucb:1e6", "width", "[0, 100]"],
      ["softmax:1e6", "temperature", "[0, 100]"],
      ["epsilon:1.5", "epsilon", "[0, 1]"],
      ["linucb:500", "alpha", "[0, 100]"],
      ["lints:0.2,model=1e9", "modelWeight", "[0, 100]"],
      ["thompson:16,lift=7", "lift", "[0, 1]"],
      ["greedy+budget:1e9", "explorationBudget", "[0, 1000]"],
      ["greedy+mmr:1e9", "mmr.weight", "[0, 100]"],
      ["greedy+cold:1e9", "coldStart.boost", "[-100, 100]"],
    ];
    for (const [spec, option, range] of cases) {
      assert.throws(
        () => createPolicy(spec),
        (err: unknown) => err instanceof PolicyConfigError && err.option === option && err.message.includes(range),
        spec,
      );
    }
    // The constructors hold the same bounds for policies built without a spec.
    assert.throws(() => createPolicy({ kind: "thompson", samples: 1e6 }), PolicyConfigError);
    assert.throws(() => createPolicy({ kind: "lints", d: 100_000 }), PolicyConfigError);
    assert.equal(createPolicy("thompson:1000").id, "thompson:1000");
  });
});

describe("assignPolicy", () => {
  const split = [
    { policy: "greedy", weight: 1 },
    { policy: "thompson", weight: 3 },
  ];

  it("is stable for a user key", () => {
    for (let u = 0; u < 100; u++) assert.equal(assignPolicy(`user-${u}`, split), assignPolicy(`user-${u}`, split));
  });

  it("splits traffic in proportion to the weights", () => {
    let thompson = 0;
    const users = 20000;
    for (let u = 0; u < users; u++) if (assignPolicy(`user-${u}`, split) === "thompson") thompson++;
    assert.ok(Math.abs(thompson / users - 0.75) < 0.015, `share ${thompson / users}`);
  });

  it("a salt re-draws the assignment", () => {
    let moved = 0;
    for (let u = 0; u < 1000; u++)
      if (assignPolicy(`user-${u}`, split) !== assignPolicy(`user-${u}`, split, "exp-2")) moved++;
    assert.ok(moved > 200 && moved < 550, `moved ${moved}`);
  });

  it("rejects empty or negative splits", () => {
    assert.throws(() => assignPolicy("u", []), PolicyConfigError);
    assert.throws(() => assignPolicy("u", [{ policy: "greedy", weight: -1 }]), PolicyConfigError);
  });
});

describe("parseTrafficSplit", () => {
  it("takes the weight after the last colon, 1 when there is none", () => {
    assert.deepEqual(parseTrafficSplit("greedy:1,thompson:3"), [
      { policy: "greedy", weight: 1 },
      { policy: "thompson", weight: 3 },
    ]);
    assert.deepEqual(parseTrafficSplit("greedy"), [{ policy: "greedy", weight: 1 }]);
    assert.deepEqual(parseTrafficSplit(" epsilon:0.1:2 , greedy:0.5 "), [
      { policy: "epsilon:0.1", weight: 2 },
      { policy: "greedy", weight: 0.5 },
    ]);
  });

  it('separates entries by ";" when there is one, so specs keep their commas', () => {
    assert.deepEqual(parseTrafficSplit("greedy:1;thompson:16,lift=1,prior=3:2"), [
      { policy: "greedy", weight: 1 },
      { policy: "thompson:16,lift=1,prior=3", weight: 2 },
    ]);
    assert.deepEqual(parseTrafficSplit("thompson:16,lift=1;greedy"), [
      { policy: "thompson:16,lift=1", weight: 1 },
      { policy: "greedy", weight: 1 },
    ]);
  });

  it("rejects empty entries, negative weights and splits with no weight > 0", () => {
    for (const bad of ["", "greedy:1,", ";", "greedy:-1", "greedy:0", "greedy:0,thompson:0"]) {
      assert.throws(() => parseTrafficSplit(bad), PolicyConfigError, bad);
    }
  });
});

describe("allowPolicies", () => {
  const allowed = allowPolicies(["greedy", "thompson:16,lift=1,prior=3", "thompson:16,prior=3,lift=1", "epsilon:0.10"]);

  it("keeps one policy per canonical id", () => {
    assert.deepEqual(allowed.ids, ["greedy", "thompson:16,prior=3,lift=1", "epsilon:0.1"]);
  });

  it("resolves equivalent specs to the same allowed instance", () => {
    const a = allowed.lookup("thompson:16,lift=1,prior=3");
    const b = allowed.lookup("thompson:16, prior=3 ,lift=1");
    const c = allowed.lookup("epsilon:0.1");
    assert.ok(a.ok && b.ok && c.ok);
    assert.equal(a.policy, b.policy);
    assert.equal(a.policy.id, "thompson:16,prior=3,lift=1");
    assert.equal(c.policy.id, "epsilon:0.1");
  });

  it("refuses valid specs outside the set and strings that are no spec, with distinct reasons", () => {
    const other = allowed.lookup("thompson:17,lift=1,prior=3");
    assert.ok(!other.ok && other.reason === "policy_not_allowed", JSON.stringify(other));
    const junk = allowed.lookup("x".repeat(500));
    assert.ok(!junk.ok && junk.reason === "unknown_policy");
    assert.ok(junk.detail.length < 300, "the detail must not echo a long client string");
  });

  it("a spec that does not parse stops the start", () => {
    assert.throws(() => allowPolicies(["greedy", "thompson:0"]), PolicyConfigError);
  });
});

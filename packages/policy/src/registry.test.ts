import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PolicyConfigError } from "./errors.js";
import { assignPolicy, createPolicy, parsePolicySpec } from "./registry.js";

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
    assert.equal(createPolicy({ kind: "epsilon", epsilon: 0.25, slate: { explorationBudget: 1 } }).id, "epsilon:0.25+budget:1");
    assert.deepEqual(parsePolicySpec("softmax:0.5"), { kind: "softmax", temperature: 0.5, slate: {} });
  });

  it("rejects unknown kinds, keys and bad numbers with PolicyConfigError", () => {
    for (const bad of ["boltzmann", "epsilon", "epsilon:abc", "epsilon:2", "ucb:1,foo=2", "greedy+wat:1", "thompson:0", "softmax:-1"]) {
      assert.throws(() => createPolicy(bad), PolicyConfigError, bad);
    }
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
    for (let u = 0; u < 1000; u++) if (assignPolicy(`user-${u}`, split) !== assignPolicy(`user-${u}`, split, "exp-2")) moved++;
    assert.ok(moved > 200 && moved < 550, `moved ${moved}`);
  });

  it("rejects empty or negative splits", () => {
    assert.throws(() => assignPolicy("u", []), PolicyConfigError);
    assert.throws(() => assignPolicy("u", [{ policy: "greedy", weight: -1 }]), PolicyConfigError);
  });
});

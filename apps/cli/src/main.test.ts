import { test } from "node:test";
import assert from "node:assert/strict";
import { commandTable, main } from "./main";

test("help lists the app's commands and those the packages export", async (t) => {
  const printed: string[] = [];
  t.mock.method(console, "log", (line: string) => void printed.push(line));
  assert.equal(await main(["help"]), 0);
  const names = [...printed.join("\n").matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
  const expected = [
    "setup",
    "doctor",
    "demo",
    "simulate",
    "ope",
    "policy",
    "stack",
    "eval",
    "tune",
    "train",
    "model",
    "erase-user",
    "rebuild-features",
    "keys",
  ];
  assert.deepEqual(names.sort(), expected.sort());
});

test("an unknown command is a usage error", async (t) => {
  t.mock.method(console, "error", () => undefined);
  assert.equal(await main(["no-such-command"]), 2);
});

test("two commands with one name are refused", () => {
  const run = async () => 0;
  const x = { name: "x", summary: "", run };
  assert.throws(() => commandTable([[x], [{ ...x }]]), /named "x"/);
});

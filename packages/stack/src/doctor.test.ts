import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkJava, checkNode, checkRedisServer, formatCheck, MissingPrerequisiteError } from "./doctor";
import { shouldRetry } from "@recfleet/runtime";

test("doctor: Node below 20 is missing, 20 is past end of life, 22 and 24 are fine", () => {
  assert.equal(checkNode("v18.20.0").status, "missing");
  assert.equal(checkNode("v20.20.2").status, "warn");
  assert.match(checkNode("v20.20.2").detail, /end of life/);
  assert.equal(checkNode("v22.12.0").status, "ok");
  assert.equal(checkNode("v24.21.0").status, "ok");
});

test("doctor: a binary missing from PATH gives one line naming it and the install command", () => {
  const emptyPath = mkdtempSync(join(tmpdir(), "recfleet-doctor-"));
  const redis = checkRedisServer({ PATH: emptyPath });
  assert.equal(redis.status, "missing");
  const line = formatCheck(redis);
  assert.equal(line.split("\n").length, 1);
  assert.match(line, /^missing\s+redis-server .*apt-get install -y redis-server$/);
  const java = checkJava({ PATH: emptyPath });
  assert.equal(java.status, "missing");
  assert.match(formatCheck(java), /openjdk-17-jre-headless/);
  // What the stack throws carries the same lines and is never retried.
  const err = new MissingPrerequisiteError([redis]);
  assert.equal(err.message, line);
  assert.equal(shouldRetry(err), false);
});

test(
  "doctor: an installed redis-server is found with its version",
  { skip: checkRedisServer().status !== "ok" && "redis-server not installed" },
  () => {
    assert.match(checkRedisServer().detail, /^Redis \d+\.\d+/);
  },
);

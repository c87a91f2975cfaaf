/**
 * One error model across packages: every bad-input, bad-config or corrupt-artefact error is
 * non-retriable for runtime's shouldRetry, which the consumer loop and the trainer's BullMQ
 * jobs both consult. Packages below runtime carry the flag structurally, so this is checked here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, shouldRetry } from "@recfleet/runtime";
import { InferenceSessionError, ModelFormatError, TrainingAbortedError, TwoTowerConfigError } from "@recfleet/towers";
import { CandidateError, LinearStateError, LoggedRecordError, PolicyConfigError } from "@recfleet/policy";
import { DatasetFormatError } from "@recfleet/evaluation";
import { CorruptArtefactError, StoreProtocolError, UnknownModelVersionError } from "@recfleet/store";

const nonRetriable: [string, Error][] = [
  ["ConfigError", new ConfigError("TRAIN_DIM", "an integer", "x")],
  ["ModelFormatError", new ModelFormatError("checksum mismatch")],
  ["TwoTowerConfigError", new TwoTowerConfigError("config.dim must be a positive integer", "dim")],
  [
    "InferenceSessionError",
    new InferenceSessionError("no execution provider could start the session", ["cpu: bad graph"]),
  ],
  ["PolicyConfigError", new PolicyConfigError("epsilon", 2, "a number in [0, 1]")],
  ["CandidateError", new CandidateError("i1", "duplicate id")],
  ["LinearStateError", new LinearStateError("dimension mismatch")],
  ["LoggedRecordError", new LoggedRecordError("r1", "zero propensity")],
  ["DatasetFormatError", new DatasetFormatError("expected 4 fields", "/data/u.data", 3)],
  ["CorruptArtefactError", new CorruptArtefactError("v1", "model.bin", "checksum mismatch")],
  ["UnknownModelVersionError", new UnknownModelVersionError("v1")],
  ["StoreProtocolError", new StoreProtocolError("claim", null)],
];

for (const [name, err] of nonRetriable) {
  test(`error model: ${name} is not retried, alone or as the cause of a plain Error`, () => {
    assert.equal(err.name, name);
    assert.equal(shouldRetry(err), false);
    assert.equal(shouldRetry(new Error("batch effects failed", { cause: err })), false);
  });
}

test("error model: an aborted training run may be retried (shutdown is not the model's fault)", () => {
  assert.equal(shouldRetry(new TrainingAbortedError(3)), true);
});

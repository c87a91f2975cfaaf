import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { KAFKA_IMAGE, REDIS_IMAGE } from "./containers";

const infra = (path: string) => readFileSync(fileURLToPath(new URL(`../../../infra/${path}`, import.meta.url)), "utf8");

/** The image names the compose file uses, from its `image:` lines. */
const composeImages = () => [...infra("docker-compose.yml").matchAll(/^\s+image:\s*(\S+)\s*$/gm)].map((m) => m[1]!);

test("testcontainers runs the same Kafka and Redis images as the compose stack", () => {
  const images = composeImages();
  assert.ok(images.includes(KAFKA_IMAGE), `${KAFKA_IMAGE} is not in infra/docker-compose.yml (${images.join(", ")})`);
  assert.ok(images.includes(REDIS_IMAGE), `${REDIS_IMAGE} is not in infra/docker-compose.yml (${images.join(", ")})`);
});

test("every base image the Dockerfile and compose file name has a stand-in in infra/local-images.sh, or is said to have none", () => {
  const script = infra("local-images.sh");
  const nodeMajor = /^NODE_MAJOR=(\d+)$/m.exec(script)?.[1];
  const kafkaVersion = /^KAFKA_VERSION=\$\{RECFLEET_KAFKA_VERSION:-([^}]+)\}$/m.exec(script)?.[1];
  assert.ok(nodeMajor && kafkaVersion, "local-images.sh sets NODE_MAJOR and KAFKA_VERSION");
  // `build TAG DIR` calls, with the script's variables filled in; the Debian base is imported.
  const built = new Set([
    "debian:bookworm-slim",
    ...[...script.matchAll(/\bbuild "?([^"\s]+)"? \w+/g)].map((m) =>
      m[1]!.replace("$NODE_MAJOR", nodeMajor).replace("$KAFKA_VERSION", kafkaVersion),
    ),
  ]);
  const fromDockerfile = /^ARG NODE_IMAGE=(\S+)$/m.exec(infra("Dockerfile"))?.[1];
  assert.ok(fromDockerfile, "infra/Dockerfile names its base in ARG NODE_IMAGE");
  const project = "recfleet:0.1.0";
  for (const image of [fromDockerfile, ...composeImages()].filter((i) => i !== project)) {
    const saidToHaveNone = image.startsWith("grafana/") && script.includes("Grafana has no Debian package");
    assert.ok(built.has(image) || saidToHaveNone, `${image} has no stand-in in infra/local-images.sh`);
  }
});

/**
 * Kafka and Redis for a test run through testcontainers, instead of the local broker and
 * redis-server that packages/stack starts: RECFLEET_TEST_CONTAINERS=1 asks for it, and the test
 * runner falls back to it when Docker answers but the local binaries are missing. The images are
 * the ones infra/docker-compose.yml names (infra/local-images.sh builds stand-ins where no
 * registry is reachable). Ports are published on 127.0.0.1 only.
 */
import { createServer } from "node:net";
import { RecfleetError } from "@recfleet/runtime";

export const KAFKA_IMAGE = "apache/kafka:4.4.0";
export const REDIS_IMAGE = "redis:7.0-bookworm";

/** RECFLEET_TEST_CONTAINERS=1 (or true): run the tests' Kafka and Redis in containers. */
export function containersRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes)$/i.test(env.RECFLEET_TEST_CONTAINERS ?? "");
}

export interface ContainerStack {
  /** KAFKA_BROKERS and REDIS_URL of the containers, for the tests' environment. */
  env: { KAFKA_BROKERS: string; REDIS_URL: string };
  stop(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Docker daemon answers (testcontainers' own lookup: DOCKER_HOST, the socket, …). */
export async function dockerAvailable(): Promise<boolean> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a single-node KRaft broker and a Redis in containers. Kafka advertises the host port
 * it is published on, so that port is chosen first and bound fixed (127.0.0.1:P → 9092).
 */
export async function startContainerStack(log: (line: string) => void = () => {}): Promise<ContainerStack> {
  // Ryuk (testcontainers' reaper) is one more image to pull; stop() removes what this starts.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  const { GenericContainer, Wait } = await import("testcontainers");

  /** testcontainers publishes on every interface; these bindings are narrowed to 127.0.0.1. */
  class LoopbackContainer extends GenericContainer {
    publishOnLoopback(container: number, host: number): this {
      this.withExposedPorts({ container, host });
      this.hostConfig.PortBindings = {
        ...this.hostConfig.PortBindings,
        [`${container}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(host) }],
      };
      return this;
    }
  }

  const kafkaPort = await freeLoopbackPort();
  const redisPort = await freeLoopbackPort();
  const started = Date.now();
  log(`starting ${KAFKA_IMAGE} and ${REDIS_IMAGE} through testcontainers`);
  const starting = await Promise.allSettled([
    new LoopbackContainer(KAFKA_IMAGE)
      .publishOnLoopback(9092, kafkaPort)
      .withEnvironment({
        KAFKA_NODE_ID: "1",
        KAFKA_PROCESS_ROLES: "broker,controller",
        KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:9093",
        KAFKA_LISTENERS: "PLAINTEXT://:9092,CONTROLLER://localhost:9093",
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
        KAFKA_INTER_BROKER_LISTENER_NAME: "PLAINTEXT",
        // The settings packages/stack gives its local broker: one node, tests create their topics.
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
        KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: "4",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: "1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: "1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false",
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(180_000)
      .start(),
    new LoopbackContainer(REDIS_IMAGE)
      .publishOnLoopback(6379, redisPort)
      .withCommand(["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .withStartupTimeout(60_000)
      .start(),
  ]);
  const [kafkaStart, redisStart] = starting;
  if (kafkaStart.status === "rejected" || redisStart.status === "rejected") {
    // One may have started: stop it, then say what to check.
    await Promise.all(starting.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
    const err: unknown =
      kafkaStart.status === "rejected" ? kafkaStart.reason : (redisStart as PromiseRejectedResult).reason;
    throw new RecfleetError(
      `could not start Kafka and Redis containers (${err instanceof Error ? err.message : String(err)}). ` +
        `Is the Docker daemon running, and are ${KAFKA_IMAGE} and ${REDIS_IMAGE} pullable or built (infra/local-images.sh)?`,
      { retriable: false, cause: err },
    );
  }
  const kafka = kafkaStart.value;
  const redis = redisStart.value;
  log(
    `containers up in ${((Date.now() - started) / 1000).toFixed(1)} s (Kafka 127.0.0.1:${kafkaPort}, Redis 127.0.0.1:${redisPort})`,
  );
  return {
    env: { KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`, REDIS_URL: `redis://127.0.0.1:${redisPort}` },
    async stop() {
      await Promise.all([kafka.stop(), redis.stop()]);
    },
  };
}

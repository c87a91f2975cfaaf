/**
 * Reads ONE partition of a topic from its end, without sharing it: a gateway instance reads the
 * reply partition it leased, and nothing else, so a fleet of gateways does not read every
 * answer. kafkajs has no manual assign, so the reader joins a group of its own whose assigner
 * hands its only member exactly that partition, then seeks to the end offset taken before it
 * joined (an answer produced while it joins is still read). Nothing is committed: answers
 * matter only while their request waits.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AssignerProtocol, type Consumer, type Kafka, type PartitionAssigner } from "kafkajs";
import { errorMessage, type Logger, type Readiness } from "@recfleet/runtime";

export interface PartitionReaderOptions {
  kafka: Kafka;
  topic: string;
  partition: number;
  /** A group id of this process alone (its assigner takes one partition; another member would get none). */
  groupId: string;
  logger: Logger;
  /** Raw values of one fetched batch, in offset order. */
  onValues(values: (Buffer | null)[]): void;
  maxWaitTimeMs?: number;
  /** Registers the reader's readiness probe (`reader:<topic>/<partition>`). */
  readiness?: Pick<Readiness, "addReadinessCheck">;
}

export interface PartitionReader {
  readonly consumer: Consumer;
  /** The partition is assigned to this reader (its group joined). */
  isReady(): boolean;
  stop(): Promise<void>;
}

const ASSIGNER_NAME = "RecfleetOnePartition";

function onePartitionAssigner(topic: string, partition: number): PartitionAssigner {
  return () => ({
    name: ASSIGNER_NAME,
    version: 1,
    assign({ members }) {
      return Promise.resolve(
        members.map((member, i) => ({
          memberId: member.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: i === 0 ? { [topic]: [partition] } : {},
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}

export async function startPartitionReader(options: PartitionReaderOptions): Promise<PartitionReader> {
  const { kafka, topic, partition, logger } = options;
  const admin = kafka.admin();
  await admin.connect();
  let start: string;
  try {
    // A topic created a moment ago may answer "not the leader" for a while: retry for up to 15 s.
    for (let attempt = 0; ; attempt++) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        const found = offsets.find((o) => o.partition === partition);
        if (!found) throw new RangeError(`topic ${topic} has no partition ${partition}`);
        start = found.high;
        break;
      } catch (err) {
        if (err instanceof RangeError || attempt >= 60) throw err;
        await sleep(250);
      }
    }
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({
    groupId: options.groupId,
    partitionAssigners: [onePartitionAssigner(topic, partition)],
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
    // The group exists for this process only; leaving it quickly frees nothing anyone waits for.
    sessionTimeout: 10_000,
  });
  let assigned = false;
  // Where to read from: the end taken before joining, then past the last value read. Set on every
  // join (a restart after a crash joins again), since the group commits nothing.
  let next = start;
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    assigned = (event.payload.memberAssignment[topic] ?? []).includes(partition);
    if (!assigned) logger.error("the partition reader's group did not assign its partition", { topic, partition });
    else consumer.seek({ topic, partition, offset: next });
  });
  consumer.on(consumer.events.CRASH, (event) =>
    logger.warn("partition reader crashed; kafkajs restarts it", {
      topic,
      partition,
      error: errorMessage(event.payload.error),
    }),
  );
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      options.onValues(batch.messages.map((m) => m.value));
      next = (BigInt(batch.lastOffset()) + 1n).toString();
      return Promise.resolve();
    },
  });
  options.readiness?.addReadinessCheck(`reader:${topic}/${partition}`, () => assigned);
  return {
    consumer,
    isReady: () => assigned,
    async stop() {
      await consumer.disconnect();
    },
  };
}

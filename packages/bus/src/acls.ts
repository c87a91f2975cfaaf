import kafkajs, { type AclEntry, type Kafka } from "kafkajs";
import { fleetAcls, type TopicWriter } from "@recfleet/contracts";

// kafkajs is CommonJS and Node cannot see these enums as named exports.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

const OPERATIONS = {
  Describe: AclOperationTypes.DESCRIBE,
  Read: AclOperationTypes.READ,
  Write: AclOperationTypes.WRITE,
} as const;

/**
 * Creates the namespace's ACLs from the topic catalog (contracts' fleetAcls, the same grants as
 * apps/deploy's Strimzi KafkaUsers). Idempotent: the broker keeps one copy of an equal binding.
 */
export async function applyFleetAcls(
  admin: Kafka,
  namespace: string,
  principalOf: (writer: TopicWriter) => string,
): Promise<number> {
  const acl: AclEntry[] = fleetAcls(namespace, principalOf).map((a) => ({
    principal: `User:${a.principal}`,
    host: "*",
    resourceType: a.resource.type === "topic" ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
    resourceName: a.resource.name,
    resourcePatternType: a.resource.pattern === "prefix" ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    operation: OPERATIONS[a.operation],
    permissionType: AclPermissionTypes.ALLOW,
  }));
  const client = admin.admin();
  await client.connect();
  try {
    await client.createAcls({ acl });
    return acl.length;
  } finally {
    await client.disconnect();
  }
}

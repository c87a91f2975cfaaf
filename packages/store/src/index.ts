export {
  storeKeys,
  modelKeys,
  trainerKeys,
  type ModelKeys,
  type TrainerKeys,
  eventFingerprint,
  REC_SHARDS,
  recShard,
  itemStatField,
  ITEM_STATS_FIELDS,
  type StoreKeys,
} from "./keys";
export { decodeUserState, encodeUserState, seenItems, type UserState, type UserHistoryEntry } from "./user-state";
export {
  storeConfigSchema,
  storeOptions,
  DEFAULT_STORE_OPTIONS,
  popularityLogWeight,
  decayedPopularity,
  type StoreConfig,
  type StoreOptions,
} from "./config";
export {
  pseudonymise,
  createPseudonymiser,
  resolvePseudonymSecret,
  DEV_PSEUDONYM_SECRET,
  MIN_SECRET_LENGTH,
} from "./pseudonym";
export {
  createStore,
  StoreProtocolError,
  type Store,
  type ClaimOutcome,
  type EventClaim,
  type FeatureEvent,
  type ApplyResult,
  type ApplyOptions,
  type HistoryEntry,
  type UserView,
  type ItemStats,
  type ErasureReceipt,
  type RecommendationRecord,
} from "./store";
export { SCRIPTS, runScript, type LuaScript } from "./scripts";
export * from "./models";
export { tryAcquireLock, type HeldLock } from "./lock";
export { createTrainerState, type TrainerState } from "./trainer-state";
export { connectRedis, newRedisClient, type RedisConnection } from "./connection";
export { redisAclRules, REDIS_ROLES, REDIS_ROLE_ACCESS, type RedisRole } from "./acl";
export {
  createCatalogStore,
  toStoredItem,
  CATALOG_CHANGES_CAP,
  type CatalogStore,
  type CatalogChanges,
  type StoredCatalogItem,
} from "./catalog";
export {
  shredConfigSchema,
  resolveMasterKey,
  createUserKeyring,
  createKeyringFromConfig,
  sealBytes,
  openBytes,
  asSealed,
  decodeSealedOr,
  openSealed,
  sealForUsers,
  MasterKeyMissingError,
  type ShredConfig,
  type SealedEnvelope,
  type DataKey,
  type UserKeyring,
  type KeyringOptions,
  type OpenOutcome,
} from "./shred";
export { gatewayKeys, type GatewayKeys } from "./keys";
export {
  API_SCOPES,
  ApiKeyOptionError,
  createApiKeys,
  leaseReplyPartition,
  NoFreeReplyPartitionError,
  takeTokens,
  type ApiKeyInfo,
  type ApiKeys,
  type ApiScope,
  type CreatedApiKey,
  type TokenTake,
} from "./gateway";
export { isCluster, keySlot, currentMasters } from "./cluster";
export { createReplicaWaiter, ReplicaLagError, RedisNodeGoneError } from "./replication";

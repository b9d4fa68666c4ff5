/**
 * Everything Herald keeps and sends in Redis: key and channel names, the retention policy, the
 * scripts that publish and read histories, and the receipt messages on user channels. Publishers
 * and gateway nodes share it; browsers never see any of it.
 */
export {
  DEFAULT_CHANNEL_PREFIX,
  validateChannelPrefix,
  encodeUserTag,
  storageLayout,
  type StorageLayout,
  type UserNames,
} from './layout.js';
export {
  DEFAULT_RETENTION,
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  RETENTION_LIMITS,
  retentionProblem,
  readRetention,
  writeRetention,
  sameRetention,
  type RetentionPolicy,
} from './retention.js';
export { HISTORY_BODY_FIELD } from './lua.js';
export {
  PUBLISH_SCRIPT,
  SHARDED_PUBLISH_SCRIPT,
  runPublishScript,
  parseDedupRecord,
  PublishRefusedError,
  type PublishBatchSettings,
  type ScriptEvent,
  type ScriptPublishReply,
  type DedupRecord,
} from './publish-script.js';
export {
  openHistory,
  readHistory,
  readHistories,
  restartHistoryAfter,
  keepPositions,
  MAX_EPOCH_LEAD_MS,
  type HistoryKeys,
  type HistoryRead,
  type PageBounds,
  type HistoryRestart,
  type StoredExtent,
  type StoredHistory,
} from './history-scripts.js';
export {
  RECEIPT_REQUEST_PREFIX,
  isReceiptRequest,
  parseReceiptRequest,
  encodeReceipt,
  parseReceipt,
  receiptRequestPayload,
  type ReceiptRequest,
  type Receipt,
} from './receipt-messages.js';
export { RedisScript } from './redis-script.js';
export { ServerRun, isWrongRun, type ConnectionRun } from './server-run.js';
export { ClusterShards, SingleRedis, calculateSlot, isRedirection, nodeKey, parseClusterNode, type RedisShards } from './shards.js';
export { clusterAddress, failureReason } from '../redis-address.js';

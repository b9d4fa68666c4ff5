import { CloseCodes } from '@herald/protocol';
import { AUTH_FAILURE_REASONS } from './auth/verifier.js';

/**
 * The values each labelled metric can take, one list per label. The metrics start every listed
 * series at 0, and the closed lists type the increment sites, so a new value cannot be counted
 * without being listed here.
 */

export { AUTH_FAILURE_REASONS };

/** Why an event send to a socket did not happen. */
export const DROP_REASONS = ['backpressure', 'too_large', 'closed'] as const;

/** Why the node refused an upgrade, whatever its token (not_ready: Redis is not usable, or the user is still being caught up). */
export const UPGRADE_REFUSAL_REASONS = ['shutting_down', 'node_full', 'rate_limited', 'not_ready'] as const;

export const RESUME_OUTCOMES = ['resumed', 'gap', 'invalid_since', 'too_late', 'failed'] as const;

/** How a socket came to get events from history: its own resume, or the node catching its user up. */
export const HISTORY_PATHS = ['resume', 'recovery', 'hole', 'opening', 'resubscribed'] as const;

export const BROKER_MESSAGE_KINDS = ['event', 'receipt_request'] as const;

/** The statuses POST /v1/publish answers with. */
export const PUBLISH_STATUSES = [200, 400, 401, 404, 500, 503] as const;

/** Close codes any socket can end with, whoever closed it: normal, going away, none given, abnormal (no close frame). */
const COMMON_CLOSE_CODES = [1000, 1001, 1005, 1006];

/** Herald's close codes, plus the common ones. */
export const COUNTED_CLOSE_CODES: readonly number[] = [
  ...new Set([...Object.values(CloseCodes).map((entry) => entry.code), ...COMMON_CLOSE_CODES]),
];

/** The label of a socket's close: any other code a client chose is `other`, never a series of its own. */
export const OTHER_CLOSE = 'other';

/**
 * How a close is counted. Herald's own codes count only when the node closed the socket: a client
 * closing with 4002 must not show as a slow consumer on the dashboards.
 */
export function closeLabel(code: number, byServer: boolean): string {
  if (!byServer && !COMMON_CLOSE_CODES.includes(code)) return OTHER_CLOSE;
  return COUNTED_CLOSE_CODES.includes(code) ? String(code) : OTHER_CLOSE;
}

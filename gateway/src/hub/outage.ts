/**
 * The node's standing with its broker subscription. Every loss and every restoration bumps the
 * generation; work started under an older generation stops at its next step.
 */
export interface OutageState {
  generation: number;
  /** Subscriptions are lost: messages may be missing until the next restoration. */
  suspended: boolean;
}

// What fails a run: any event lost, duplicated, out of order or delivered to another user, a
// publish or a connection that failed, a gap or a close the scenario did not cause.

/**
 * `delivery`: the run's counts; `connect`: { failed, errors }; `plan`: the scenario's plan;
 * `publishErrors`: the first errors the publishers saw; `scenarioFailures`: the scenario's own.
 */
export function verdict({ delivery, connect, plan, publishErrors, scenarioFailures = [] }) {
  const failures = [];
  for (const field of ['lost', 'duplicated', 'reordered', 'leaked']) {
    if (delivery[field] > 0) failures.push(`${field} ${delivery[field]} event(s)`);
  }
  if (delivery.publishFailed > 0) failures.push(`${delivery.publishFailed} publish call(s) failed: ${publishErrors.slice(0, 3).join('; ')}`);
  if (delivery.publishSkipped > 0) failures.push(`${delivery.publishSkipped} publish call(s) skipped: too many unanswered`);
  if (connect.failed > 0) failures.push(`${connect.failed} socket(s) failed to connect: ${connect.errors.slice(0, 3).join('; ')}`);
  if (delivery.gaps > 0) failures.push(`${delivery.gaps} herald.gap frame(s) where none was due`);
  if (delivery.unexpectedCloses > 0 && !plan.reconnect) failures.push(`${delivery.unexpectedCloses} socket(s) closed by the server`);
  if (delivery.reconnectFailures > 0) failures.push(`${delivery.reconnectFailures} socket(s) could not reconnect`);
  failures.push(...scenarioFailures);
  return { ok: failures.length === 0, failures };
}

// The order a local fleet stops in: the gateway nodes drain together while HAProxy still carries
// their close frames to the clients and Redis still serves them; then HAProxy; Redis last.
const STAGES = ['gateway', 'haproxy', 'redis'];

/** Stops `members` ({ role }) stage by stage; `stop(member)` resolves once that member has exited. */
export async function stopInOrder(members, stop) {
  for (const stage of STAGES) {
    await Promise.all(members.filter((member) => member.role === stage).map(stop));
  }
}

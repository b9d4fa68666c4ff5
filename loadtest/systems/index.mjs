// The systems the load tool drives. Each module exports:
//   start({ redisUrl, secret, nodes, fleet, env }) in the coordinator: { wsUrls, pids,
//     metricsUrls?, publishTarget, stopNode?(index, signal), stop() };
//   openSocket({ url, userId, token, since, onEvent(data, id?), onControl?, onClose }) in a client
//     process: resolves with { close() } once live events reach the socket;
//   createPublisher(publishTarget, { path }) in a publisher process: { publish(userId, data), close() }.
export const SYSTEMS = ['herald', 'uws-minimal', 'socketio'];

export async function loadSystem(name) {
  if (!SYSTEMS.includes(name)) throw new Error(`unknown system ${JSON.stringify(name)}: use one of ${SYSTEMS.join(', ')}`);
  return import(`./${name}.mjs`);
}

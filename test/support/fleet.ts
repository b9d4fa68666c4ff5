import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY } from './tokens.js';

export interface Fleet {
  readonly redis: RedisServer;
  readonly nodes: readonly GatewayProcess[];
  stop(): Promise<void>;
}

/** A real Redis and `size` gateway processes (the built entry point) sharing it. */
export async function startFleet(size: number, env: Record<string, string> = {}): Promise<Fleet> {
  const redis = await startRedisServer();
  const nodes: GatewayProcess[] = [];
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startGatewayProcess({
          REDIS_URL: redis.url,
          JWT_SECRET: TEST_JWT_SECRET,
          HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY,
          NODE_ENV: 'production',
          NODE_ID: `node-${i}`,
          ...env,
        }),
      );
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    await redis.stop();
    throw error;
  }
  return {
    redis,
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop('SIGTERM')));
      await redis.stop();
    },
  };
}

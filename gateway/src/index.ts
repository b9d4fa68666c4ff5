export { startGateway, type GatewayOptions, type RunningGateway } from './gateway.js';
export { loadConfig, CONFIG_VARIABLES, type GatewayConfig, type ConfigVariableName } from './config/schema.js';
export { ConfigError } from './config/errors.js';
export { createTokenVerifier, AuthError, type TokenVerifier, type VerificationKey } from './auth/verifier.js';
export { resolveCredentials } from './auth/development.js';
export type { Broker, BrokerHealth, BrokerMessageHandler } from './broker/broker.js';
export { MemoryBroker, MemoryBus } from './broker/memory.js';
export { RedisBroker } from './broker/redis.js';
export { createLogger } from './logger.js';

import type { ClusterNode } from 'ioredis';
import { parseClusterNode } from '@herald/publisher-sdk/storage';
import { ConfigError } from './errors.js';

/** Turns a raw environment value (undefined when unset, or empty for most variables) into a typed value, or throws ConfigError. */
export type Parser<T> = (raw: string | undefined, name: string) => T;

function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

function required(raw: string | undefined, name: string): string {
  if (raw === undefined) throw new ConfigError(name, 'is required');
  return raw;
}

export function integer(min: number, max: number): Parser<number> {
  return (raw, name) => {
    const value = required(raw, name);
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max} (got ${shown(value)})`);
    }
    return parsed;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (raw, name) => {
    const value = required(raw, name);
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got ${shown(value)})`);
    }
    return value as T;
  };
}

export function matching(regex: RegExp, rule: string): Parser<string> {
  return (raw, name) => {
    const value = required(raw, name);
    if (!regex.test(value)) throw new ConfigError(name, `must be ${rule} (got ${shown(value)})`);
    return value;
  };
}

export function optional<T>(parser: Parser<T>): Parser<T | undefined> {
  return (raw, name) => (raw === undefined ? undefined : parser(raw, name));
}

/** A secret: checked for length, never echoed in errors. */
export function secret(minBytes: number): Parser<string> {
  return (raw, name) => {
    const value = required(raw, name);
    const bytes = Buffer.byteLength(value);
    if (bytes < minBytes) throw new ConfigError(name, `must be at least ${minBytes} bytes long (got ${bytes})`);
    return value;
  };
}

export function text(): Parser<string> {
  return (raw, name) => required(raw, name);
}

/** Comma-separated, trimmed, non-empty items. */
export function list(): Parser<string[]> {
  return (raw, name) => {
    const items = required(raw, name)
      .split(',')
      .map((item) => item.trim());
    if (items.some((item) => item.length === 0)) {
      throw new ConfigError(name, 'must be a comma-separated list without empty items');
    }
    return items;
  };
}

export function url(protocols: readonly string[]): Parser<URL> {
  return (raw, name) => {
    let parsed: URL;
    try {
      parsed = new URL(required(raw, name));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      // The value may hold credentials: never echo it.
      throw new ConfigError(name, 'must be a valid URL');
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(
        name,
        `must use ${protocols.map((p) => `${p}//`).join(' or ')} (got ${JSON.stringify(parsed.protocol)})`,
      );
    }
    // "redis://" parses, and the Redis client would quietly take it for localhost:6379.
    if (parsed.hostname === '') throw new ConfigError(name, 'must include a host');
    return parsed;
  };
}

export function boolean(): Parser<boolean> {
  return (raw, name) => {
    const value = required(raw, name);
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new ConfigError(name, `must be true or false (got ${shown(value)})`);
  };
}

/** Comma-separated `host:port` items: nodes of a Redis Cluster. */
export function clusterNodes(): Parser<ClusterNode[]> {
  return (raw, name) =>
    list()(raw, name).map((item) => {
      const node = parseClusterNode(item);
      if (!node) throw new ConfigError(name, `must list the cluster's nodes as host:port,host:port (got ${shown(item)})`);
      return node;
    });
}

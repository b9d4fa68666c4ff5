import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

export type UwsModule = typeof Uws;

/** Thrown when only uWebSockets.js's JavaScript fallback (a slow `ws` shim) is available. */
export class NativeTransportUnavailableError extends Error {
  override readonly name = 'NativeTransportUnavailableError';
}

function isNativeFunction(value: unknown): boolean {
  return typeof value === 'function' && Function.prototype.toString.call(value).includes('[native code]');
}

/**
 * Loads uWebSockets.js and insists on its native binding. The package falls back silently to a
 * JavaScript shim when no binary matches this Node; Herald refuses to run on it.
 */
export function loadNativeUws(): UwsModule {
  const describe = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  if (process.env['UWS_USE_FALLBACK']) {
    throw new NativeTransportUnavailableError(
      'UWS_USE_FALLBACK is set; Herald runs only on the native uWebSockets.js binding: unset it',
    );
  }
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as UwsModule;
  if (!isNativeFunction(uws.App)) {
    throw new NativeTransportUnavailableError(
      `uWebSockets.js has no native binding for ${describe}; Herald will not run on its JavaScript fallback. ` +
        'Use Node 20 (the binaries ship for Node 16, 18 and 20 on linux/darwin x64 and arm64).',
    );
  }
  return uws;
}

import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GATEWAY_ENTRY = fileURLToPath(new URL('../../gateway/dist/main.js', import.meta.url));

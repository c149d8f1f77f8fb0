import { createRequire } from 'node:module';

/** The Switchyard version from package.json (two levels up from src/observability and dist/observability alike). */
export const SWITCHYARD_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

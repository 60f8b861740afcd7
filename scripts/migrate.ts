// `npm run migrate`: create the database if needed and apply pending migrations.
import { loadConfig } from '../infra/config.js';
import { ensureDatabase, resolveDatabaseUrl } from '../infra/postgres.js';
import { describeTarget } from '../store/index.js';
import { migrate } from '../store/migrate.js';

const url = resolveDatabaseUrl(loadConfig());
await ensureDatabase(url);
const applied = await migrate(url);
console.log(applied.length ? `applied ${applied.join(', ')}` : `${describeTarget(url)} is up to date`);

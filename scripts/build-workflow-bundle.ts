// Writes dist/workflow-bundle.js, which production workers load (see worker/bundle.ts), and puts the
// failure converter the SDK loads by path (infra/codec.ts) next to the compiled codec: tsc copies no .cjs.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { buildWorkflowBundle, prebuiltBundlePath } from '../worker/bundle.js';

const file = await buildWorkflowBundle(prebuiltBundlePath());
console.log(`workflow bundle: ${file}`);
const dist = path.dirname(prebuiltBundlePath());
await copyFile(
  path.join(dist, '..', 'infra', 'failure-converter.cjs'),
  path.join(dist, 'infra', 'failure-converter.cjs'),
);

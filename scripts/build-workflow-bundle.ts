// Writes dist/workflow-bundle.js, which production workers load (see worker/bundle.ts).
import { buildWorkflowBundle, prebuiltBundlePath } from '../worker/bundle.js';

const file = await buildWorkflowBundle(prebuiltBundlePath());
console.log(`workflow bundle: ${file}`);

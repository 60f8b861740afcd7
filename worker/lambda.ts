/**
 * Entry of the orchestration Lambda function (handler string `dist/worker/lambda.handler`): the
 * handler is created at import, in the Lambda's init phase, so a bad configuration or a missing
 * workflow bundle fails the init with a message naming what to fix. See worker/serverless.ts.
 */
import type { LambdaHandler } from '@temporalio/lambda-worker';
import { createLambdaHandler } from './serverless.js';

export const handler: LambdaHandler = createLambdaHandler();

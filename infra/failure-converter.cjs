// The failure converter of every claudomator worker, client and workflow bundle: failure messages and
// stack traces travel in an encoded payload (`encodedAttributes`), so the payload codec of infra/codec.ts
// encrypts them with everything else. CommonJS, because the Temporal SDK `require()`s it by path
// (DataConverter.failureConverterPath) in the worker and bundles it into the workflow sandbox.
'use strict';
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

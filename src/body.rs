//! A request body as JSON segments and files: exact length, a restartable Read that base64-encodes files as it goes.

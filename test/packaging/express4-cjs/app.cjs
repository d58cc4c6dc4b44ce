// A CommonJS Express 4 app on the packed tarballs (scripts/check-packages.mjs installs and runs it). It
// prints the port it listens on; GET /outbox?phone= hands the checker the code the memory sender kept.
const assert = require('node:assert');
const express = require('express');
const { createSmsOtp, MemoryStore, memorySender } = require('@sms-otp/core');
const { smsOtp, requireSmsVerified } = require('@sms-otp/express');

// The CommonJS build, not Node's require(esm) (Node 20 before 20.19 has none).
assert.match(require.resolve('@sms-otp/core'), /\.cjs$/);
assert.match(require.resolve('@sms-otp/express'), /\.cjs$/);

const sender = memorySender();
const otp = createSmsOtp({
  secret: 'packaging-check-secret-of-32-bytes!',
  store: new MemoryStore(),
  sender,
  purposes: ['login'],
  defaultCountry: 'CN',
});

const app = express();
app.use(smsOtp(otp, { prefix: '/sms' }));
app.post('/login', requireSmsVerified(otp, { purpose: 'login' }), (req, res) => {
  res.json({ phone: req.smsVerified.phone });
});
app.get('/outbox', (req, res) => res.json({ code: sender.outbox.last(String(req.query.phone))?.code }));

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => otp.close()));

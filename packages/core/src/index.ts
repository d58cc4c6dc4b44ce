export * from './captcha/index.js';
export { generateCode, hashCode } from './code.js';
export {
  type Captcha,
  type CheckTokenOptions,
  createSmsOtp,
  type Recipient,
  type SendInput,
  type SendResult,
  type SmsOtp,
  type VerifyInput,
  type VerifyResult,
} from './create-sms-otp.js';
export {
  type ConsoleSenderOptions,
  consoleSender,
  type MemorySender,
  type MemorySenderOptions,
  memorySender,
  type Outbox,
  type OutboxMessage,
} from './dev-senders.js';
export {
  type AnySmsOtpError,
  ERROR_STATUS,
  type ErrorCode,
  type ErrorDetails,
  type ErrorDetailsByCode,
  type ErrorDetailsOf,
  isSmsOtpError,
  MESSAGES,
  MESSAGES_EN,
  MESSAGES_ZH_CN,
  type RequestIssue,
  type RetryDetails,
  SmsOtpConfigError,
  SmsOtpError,
  type SmsOtpErrorConstructor,
  type VendorDetails,
} from './errors.js';
export type { DeliveryEvent, SmsOtpEventName, SmsOtpEvents, SmsOtpListener } from './events.js';
export {
  BODY_TOO_LARGE_STATUS,
  checkGuardOptions,
  checkRouteOptions,
  cookieIsSecure,
  errorResponse,
  type GuardResult,
  guardRouteOptions,
  type HttpRequest,
  type HttpResponse,
  handleCaptcha,
  handleGuard,
  handleSend,
  handleVerify,
  isPlainJsonType,
  MAX_BODY_BYTES,
  type ResolvedHttpOptions,
  rememberRouteOptions,
  resolveGuardOptions,
  resolveHttpOptions,
  sendBodySchema,
  TOKEN_COOKIE,
  TOKEN_HEADER,
  verifyBodySchema,
} from './http.js';
export { openApiDocument } from './openapi.js';
export type {
  BreakerOptions,
  CaptchaOptions,
  HttpOptions,
  Logger,
  Messages,
  NumberType,
  NumberTypeOptions,
  ResolvedOptions,
  ResponseContext,
  SendLimitOptions,
  SmsOtpOptions,
  VerifyLimitOptions,
} from './options.js';
export { isProduction } from './options.js';
export { maskPhone, type NormalizedPhone, type PhoneInput, PhoneParser } from './phone.js';
export {
  handleReceipt,
  RECEIPT_MEMORY,
  type ReceiptOptions,
  type ReceiptRequest,
  type ReceiptVendor,
  type ResolvedReceipts,
  receiptOptionsSchema,
  resolveReceipts,
  twilioSignature,
  validTwilioSignature,
} from './receipts.js';
export {
  MEMORY_STORE_QUOTAS,
  MemoryStore,
  type MemoryStoreKind,
  type MemoryStoreOptions,
} from './stores/memory-store.js';
export { RedisStore, type RedisStoreClient, type RedisStoreOptions } from './stores/redis-store.js';
export type * from './stores/types.js';
export type { VerifiedPhone } from './token.js';
export * from './vendors/index.js';
export type * from './vendors/types.js';

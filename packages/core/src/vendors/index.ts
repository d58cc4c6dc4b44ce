export type { AliyunSenderOptions, AliyunSignedRequest } from './aliyun.js';
export {
  ALIYUN_ENDPOINT,
  ALIYUN_ERRORS,
  aliyunAcs3Signature,
  aliyunCanonicalQuery,
  aliyunEncode,
  aliyunSender,
} from './aliyun.js';
export type { DeepcloudCodesOptions } from './deepcloud.js';
export { DEEPCLOUD_PATHS, deepcloudCodes } from './deepcloud.js';
export type { FailoverEvent, FailoverFailure, FailoverOptions } from './failover.js';
export { failover } from './failover.js';
export { type FailureReason, mayHaveDelivered } from './http.js';
export type { JpushCodesOptions, JpushSenderOptions } from './jpush.js';
export { JPUSH_BASE_URL, JPUSH_ERRORS, jpushAuthorization, jpushCodes, jpushSender } from './jpush.js';
export type { MinappCodesOptions } from './minapp.js';
export { MINAPP_BASE_URL, minappCodes } from './minapp.js';
export type { RonglianSenderOptions } from './ronglian.js';
export {
  RONGLIAN_BASE_URL,
  RONGLIAN_INVALID_PHONE_CODES,
  RONGLIAN_MAX_RECIPIENTS,
  RONGLIAN_RATE_LIMIT_CODES,
  ronglianAuthorization,
  ronglianSender,
  ronglianSignature,
  ronglianTimestamp,
} from './ronglian.js';
export {
  checkVendorPurposes,
  commonPurposes,
  type PerPurpose,
  type PurposeTemplates,
  perPurposeSchema,
  purposeTemplates,
  templateFor,
} from './templates.js';
export type { TencentSenderOptions, TencentSignedRequest } from './tencent.js';
export { TENCENT_BASE_URL, TENCENT_ERRORS, tencentSender, tencentTc3Signature } from './tencent.js';
export type { TwilioSenderOptions, TwilioVerifyOptions } from './twilio.js';
export {
  TWILIO_BASE_URL,
  TWILIO_DEFAULT_BODY,
  TWILIO_ERRORS,
  TWILIO_REQUEST_ID_PARAM,
  TWILIO_VERIFY_BASE_URL,
  twilioAuthorization,
  twilioSender,
  twilioVerify,
} from './twilio.js';

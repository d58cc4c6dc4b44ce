/**
 * Picks the demo's SMS vendor from environment variables:
 *
 *   SMS_VENDOR=console (default) | ronglian | jpush | jpush-codes | deepcloud | aliyun | tencent, or a comma list for failover
 *   ronglian:     RONGLIAN_ACCOUNT_SID, RONGLIAN_AUTH_TOKEN, RONGLIAN_APP_ID, RONGLIAN_TEMPLATE_ID [, RONGLIAN_BASE_URL]
 *   jpush(-codes): JPUSH_APP_KEY, JPUSH_MASTER_SECRET, JPUSH_TEMPLATE_ID [, JPUSH_SIGN_ID, JPUSH_BASE_URL]
 *   deepcloud:    DEEPCLOUD_ACCESS_TOKEN, DEEPCLOUD_BASE_URL
 *   aliyun:       ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET, ALIYUN_SIGN_NAME, ALIYUN_TEMPLATE_CODE [, ALIYUN_BASE_URL]
 *   tencent:      TENCENT_SECRET_ID, TENCENT_SECRET_KEY, TENCENT_SMS_SDK_APP_ID, TENCENT_SIGN_NAME, TENCENT_TEMPLATE_ID
 *                 [, TENCENT_REGION, TENCENT_BASE_URL]
 *   twilio:       TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID
 *                 [, TWILIO_STATUS_CALLBACK (public URL of /sms/receipts/twilio: turns the receipts route on), TWILIO_BASE_URL]
 *   twilio-verify: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_VERIFY_SERVICE_SID [, TWILIO_VERIFY_BASE_URL]
 *
 * MinApp is left out: its API wants a user id with every code, which a phone-login page does not have.
 */
import {
  aliyunSender,
  consoleSender,
  deepcloudCodes,
  failover,
  jpushCodes,
  jpushSender,
  type ReceiptOptions,
  ronglianSender,
  tencentSender,
  twilioSender,
  twilioVerify,
  type Vendor,
} from '@sms-otp/core';

type Env = Record<string, string | undefined>;

/** A missing or empty variable stops the demo at start-up, naming the variable. */
function need(env: Env, name: string, alternative = ''): string {
  const value = env[name];
  if (!value) throw new Error(`demo: SMS_VENDOR needs ${alternative}${name} to be set`);
  return value;
}

const optional = (env: Env, name: string) => (env[name] ? { [name]: env[name] } : {});

const VENDORS: Record<string, (env: Env) => Vendor> = {
  console: () => consoleSender(),
  ronglian: (env) =>
    ronglianSender({
      accountSid: need(env, 'RONGLIAN_ACCOUNT_SID'),
      authToken: need(env, 'RONGLIAN_AUTH_TOKEN'),
      appId: need(env, 'RONGLIAN_APP_ID'),
      templateId: need(env, 'RONGLIAN_TEMPLATE_ID'),
      ...(env.RONGLIAN_BASE_URL ? { baseUrl: env.RONGLIAN_BASE_URL } : {}),
    }),
  jpush: (env) => jpushSender(jpushOptions(env)),
  'jpush-codes': (env) => jpushCodes(jpushOptions(env)),
  deepcloud: (env) =>
    deepcloudCodes({
      accessToken: need(env, 'DEEPCLOUD_ACCESS_TOKEN'),
      baseUrl: need(env, 'DEEPCLOUD_BASE_URL'),
    }),
  aliyun: (env) =>
    aliyunSender({
      accessKeyId: need(env, 'ALIYUN_ACCESS_KEY_ID'),
      accessKeySecret: need(env, 'ALIYUN_ACCESS_KEY_SECRET'),
      signName: need(env, 'ALIYUN_SIGN_NAME'),
      templateCode: need(env, 'ALIYUN_TEMPLATE_CODE'),
      ...(env.ALIYUN_BASE_URL ? { baseUrl: env.ALIYUN_BASE_URL } : {}),
    }),
  tencent: (env) =>
    tencentSender({
      secretId: need(env, 'TENCENT_SECRET_ID'),
      secretKey: need(env, 'TENCENT_SECRET_KEY'),
      smsSdkAppId: need(env, 'TENCENT_SMS_SDK_APP_ID'),
      signName: need(env, 'TENCENT_SIGN_NAME'),
      templateId: need(env, 'TENCENT_TEMPLATE_ID'),
      ...(env.TENCENT_REGION ? { region: env.TENCENT_REGION } : {}),
      ...(env.TENCENT_BASE_URL ? { baseUrl: env.TENCENT_BASE_URL } : {}),
    }),
  twilio: (env) =>
    twilioSender({
      accountSid: need(env, 'TWILIO_ACCOUNT_SID'),
      authToken: need(env, 'TWILIO_AUTH_TOKEN'),
      ...(env.TWILIO_FROM
        ? { from: env.TWILIO_FROM }
        : { messagingServiceSid: need(env, 'TWILIO_MESSAGING_SERVICE_SID', 'TWILIO_FROM or ') }),
      ...(env.TWILIO_STATUS_CALLBACK ? { statusCallback: env.TWILIO_STATUS_CALLBACK } : {}),
      ...(env.TWILIO_BASE_URL ? { baseUrl: env.TWILIO_BASE_URL } : {}),
    }),
  'twilio-verify': (env) =>
    twilioVerify({
      accountSid: need(env, 'TWILIO_ACCOUNT_SID'),
      authToken: need(env, 'TWILIO_AUTH_TOKEN'),
      serviceSid: need(env, 'TWILIO_VERIFY_SERVICE_SID'),
      ...(env.TWILIO_VERIFY_BASE_URL ? { baseUrl: env.TWILIO_VERIFY_BASE_URL } : {}),
    }),
};

/**
 * The receipts route's options from the environment: Twilio's status callbacks when `TWILIO_STATUS_CALLBACK`
 * (the public URL Twilio calls) and `TWILIO_AUTH_TOKEN` are set; `undefined` (no route) otherwise.
 *
 * @example
 * app.use(smsOtp(otp, { prefix: '/sms', receipts: receiptsFromEnv(process.env) }));
 */
export function receiptsFromEnv(env: Env = process.env): ReceiptOptions | undefined {
  if (!env.TWILIO_STATUS_CALLBACK || !env.TWILIO_AUTH_TOKEN) return undefined;
  return { twilio: { authToken: env.TWILIO_AUTH_TOKEN, url: env.TWILIO_STATUS_CALLBACK } };
}

function jpushOptions(env: Env) {
  const extra = { ...optional(env, 'JPUSH_SIGN_ID'), ...optional(env, 'JPUSH_BASE_URL') };
  return {
    appKey: need(env, 'JPUSH_APP_KEY'),
    masterSecret: need(env, 'JPUSH_MASTER_SECRET'),
    templateId: need(env, 'JPUSH_TEMPLATE_ID'),
    ...(extra.JPUSH_SIGN_ID ? { signId: extra.JPUSH_SIGN_ID } : {}),
    ...(extra.JPUSH_BASE_URL ? { baseUrl: extra.JPUSH_BASE_URL } : {}),
  };
}

/**
 * The vendor `SMS_VENDOR` names (console when unset); several names make a `failover` in that order.
 *
 * @example
 * createSmsOtp({ sender: vendorFromEnv(process.env) });
 */
export function vendorFromEnv(env: Env = process.env): Vendor {
  const names = (env.SMS_VENDOR ?? 'console')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const vendors = names.map((name) => {
    const make = VENDORS[name];
    if (!make) throw new Error(`demo: SMS_VENDOR "${name}" is not one of ${Object.keys(VENDORS).join(', ')}`);
    return make(env);
  });
  if (vendors.length === 0) return consoleSender();
  return vendors.length === 1 ? vendors[0]! : failover(vendors as Parameters<typeof failover>[0]);
}

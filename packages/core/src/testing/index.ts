/** Placeholder for `@sms-otp/core/testing` (the store conformance suite replaces it). */
export const STORE_CONFORMANCE_PLACEHOLDER = true;

export {
  CAPTCHA_ALPHABET,
  type CaptchaImageOptions,
  captchaPngDataUri,
  captchaText,
  renderCaptchaPng,
} from './image.js';
export {
  type CaptchaVerifier,
  HCAPTCHA_BASE_URL,
  type HcaptchaVerifierOptions,
  hcaptchaVerifier,
  RECAPTCHA_BASE_URL,
  type RecaptchaVerifierOptions,
  recaptchaVerifier,
  TURNSTILE_BASE_URL,
  type TurnstileVerifierOptions,
  turnstileVerifier,
} from './verifiers.js';

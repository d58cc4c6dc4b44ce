export {
  CAPTCHA_ALPHABET,
  type CaptchaSvgOptions,
  captchaDataUri,
  captchaText,
  renderCaptchaSvg,
} from './image.js';
export { captchaPngDataUri, renderCaptchaPng } from './raster.js';
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

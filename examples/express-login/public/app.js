// Phone login page: send a code, verify it with the send's requestId, then call a route guarded by
// requireSmsVerified. When a send or a verify needs a captcha (CAPTCHA_REQUIRED), it shows the image of
// GET /sms/captcha and tries again with the answer. Plain browser JavaScript, no build step.

const $ = (id) => document.getElementById(id);
const form = $('login');
const country = $('country');
const phone = $('phone');
const code = $('code');
const sendButton = $('send');
const verifyButton = $('verify');
const message = $('message');
const devCode = $('dev-code');
const signedIn = $('signed-in');
const lead = document.querySelector('.lead');
const captchaBox = $('captcha');
const captchaImage = $('captcha-image');
const captchaAnswer = $('captcha-answer');
const captchaRefresh = $('captcha-refresh');

let countdownTimer;
/** The shown captcha's key, sent back with its answer; `undefined` while no captcha is shown. */
let captchaKey;
let captchaTimer;
/** What the shown captcha is for: the next send, or the next verify (Enter in its field does that). */
let captchaFor = 'send';

/**
 * The requestId of the last send, with the number it went to: the verify names its send with it. Kept in
 * sessionStorage, so a reload of the page (this tab only) can still verify the code it asked for.
 */
const PENDING = 'sms-otp-pending';
/** `{ to, requestId }` of this page's last send. */
let lastSend;
function pendingRequestId(to) {
  try {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
    return pending && pending.to === to ? pending.requestId : undefined;
  } catch {
    return undefined;
  }
}
function keepRequestId(to, requestId) {
  try {
    sessionStorage.setItem(PENDING, JSON.stringify({ to, requestId }));
  } catch {
    // Storage refused (private mode): the verify still works until the page is reloaded.
  }
  lastSend = { to, requestId };
}
function forgetRequestId() {
  lastSend = undefined;
  try {
    sessionStorage.removeItem(PENDING);
  } catch {
    // Nothing kept to forget.
  }
}

/** POSTs JSON; answers `{ ok, status, body }` (body `{ error: { code, message } }` on network trouble). */
async function post(path, body, headers = {}) {
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: json };
  } catch {
    return {
      ok: false,
      status: 0,
      body: { error: { code: 'NETWORK', message: 'Could not reach the server. Please try again.' } },
    };
  }
}

function show(text, kind) {
  message.textContent = text;
  message.className = `message ${kind}`;
  message.hidden = false;
}

function clearMessage() {
  message.hidden = true;
  message.textContent = '';
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function duration(seconds) {
  return seconds > 90 ? plural(Math.ceil(seconds / 60), 'minute') : plural(seconds, 'second');
}

/** The API's message, plus what the details add: attempts left, how long to wait, which field is wrong. */
function describe(error = {}) {
  const text = error.message || 'Something went wrong. Please try again.';
  if (error.code === 'CODE_INVALID' && typeof error.attemptsLeft === 'number') {
    return `${text} ${plural(error.attemptsLeft, 'attempt')} left.`;
  }
  if (typeof error.retryAfter === 'number') {
    return `${text} You can try again in ${duration(error.retryAfter)}.`;
  }
  if (error.code === 'INVALID_REQUEST' && Array.isArray(error.issues) && error.issues.length > 0) {
    return `${text} (${error.issues.map((issue) => `${issue.path || 'body'}: ${issue.message}`).join('; ')})`;
  }
  return text;
}

/** Disables "Send code" and counts down on it until another code may be asked for. */
function startCountdown(seconds) {
  clearInterval(countdownTimer);
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(countdownTimer);
      sendButton.disabled = false;
      sendButton.textContent = 'Resend code';
      return;
    }
    sendButton.disabled = true;
    sendButton.textContent = `Resend in ${left} s`;
  };
  tick();
  countdownTimer = setInterval(tick, 250);
}

/**
 * Fetches a fresh image captcha and shows it (answer field emptied). Each captcha answers one send, and
 * expires after `expiresIn` seconds: a new one replaces it shortly before that.
 */
async function loadCaptcha() {
  clearTimeout(captchaTimer);
  captchaKey = undefined;
  captchaAnswer.value = '';
  captchaBox.hidden = false;
  captchaRefresh.disabled = true;
  try {
    const response = await fetch('/sms/captcha', { headers: { accept: 'application/json' } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      show(describe(body.error), 'error');
      return;
    }
    captchaKey = body.captchaKey;
    captchaImage.src = body.image;
    captchaTimer = setTimeout(loadCaptcha, Math.max(body.expiresIn - 5, 5) * 1000);
  } catch {
    show('Could not load the captcha. Please try again.', 'error');
  } finally {
    captchaRefresh.disabled = false;
  }
}

function hideCaptcha() {
  clearTimeout(captchaTimer);
  captchaKey = undefined;
  captchaAnswer.value = '';
  captchaImage.removeAttribute('src');
  captchaBox.hidden = true;
}

function recipient() {
  return { phone: phone.value.trim(), country: country.value, purpose: 'login' };
}

/** The number as typed, with its country: which send a requestId belongs to. */
function recipientKey() {
  return `${country.value} ${phone.value.replace(/\D/g, '')}`;
}

function requestIdFor(to) {
  return lastSend && lastSend.to === to ? lastSend.requestId : pendingRequestId(to);
}

/** Shows a captcha for the next `step` (send or verify), with the API's prompt. */
async function askCaptcha(step, error) {
  captchaFor = step;
  show(describe(error), error.code === 'CAPTCHA_REQUIRED' ? 'prompt' : 'error');
  await loadCaptcha();
  captchaAnswer.focus();
}

/** The captcha answer to send with this step, if one is shown for it: `{ captchaKey, captcha }` or `{}`. */
function captchaFields(step) {
  const answer = captchaAnswer.value.trim();
  return !captchaBox.hidden && captchaFor === step && captchaKey !== undefined && answer
    ? { captchaKey, captcha: answer }
    : {};
}

sendButton.addEventListener('click', async () => {
  if (!phone.value.trim()) {
    show('Please enter your phone number.', 'error');
    phone.focus();
    return;
  }
  if (!captchaBox.hidden && captchaFor === 'send' && !captchaAnswer.value.trim()) {
    show('Please type the characters in the picture.', 'error');
    captchaAnswer.focus();
    return;
  }
  clearMessage();
  sendButton.disabled = true;
  sendButton.textContent = 'Sending…';
  const to = recipientKey();
  const { ok, body } = await post('/sms/send', { ...recipient(), ...captchaFields('send') });
  const error = body.error ?? {};
  const captchaAgain = error.code === 'CAPTCHA_REQUIRED' || error.code === 'CAPTCHA_INVALID';
  // A captcha answers one request, right or wrong: it goes, or a fresh one replaces it below.
  if (!captchaAgain) hideCaptcha();
  if (ok) {
    // The verify names this send: a code another send asked for is not this one.
    keepRequestId(to, body.requestId);
    startCountdown(body.resendIn);
    show(`Code sent. It is valid for ${duration(body.expiresIn)}.`, 'info');
    devCode.hidden = !body.devCode;
    devCode.innerHTML = '';
    if (body.devCode) {
      const strong = document.createElement('strong');
      strong.id = 'dev-code-value';
      strong.textContent = body.devCode;
      devCode.append('Development code: ', strong);
    }
    code.focus();
    return;
  }
  if (captchaAgain) {
    sendButton.disabled = false;
    sendButton.textContent = 'Send code';
    // A captcha to solve is a step to take, not an error and not a success: a prompt.
    await askCaptcha('send', error);
    return;
  }
  show(describe(error), 'error');
  if (error.code === 'RESEND_TOO_SOON' && typeof error.retryAfter === 'number') {
    startCountdown(error.retryAfter);
  } else {
    sendButton.disabled = false;
    sendButton.textContent = 'Send code';
  }
});

captchaRefresh.addEventListener('click', async () => {
  await loadCaptcha();
  captchaAnswer.focus();
});

// Enter in the captcha field takes the step the captcha is for: the send, or the verify (the form's submit).
captchaAnswer.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  if (captchaFor === 'verify') form.requestSubmit();
  else if (!sendButton.disabled) sendButton.click();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!phone.value.trim() || !code.value.trim()) {
    show(
      phone.value.trim() ? 'Please enter the code we sent you.' : 'Please enter your phone number.',
      'error',
    );
    (phone.value.trim() ? code : phone).focus();
    return;
  }
  const requestId = requestIdFor(recipientKey());
  if (requestId === undefined) {
    show('Please ask for a code for this number first.', 'error');
    sendButton.focus();
    return;
  }
  if (!captchaBox.hidden && captchaFor === 'verify' && !captchaAnswer.value.trim()) {
    show('Please type the characters in the picture.', 'error');
    captchaAnswer.focus();
    return;
  }
  clearMessage();
  verifyButton.disabled = true;
  try {
    const verified = await post('/sms/verify', {
      ...recipient(),
      code: code.value.trim(),
      requestId,
      ...captchaFields('verify'),
    });
    const error = verified.body.error ?? {};
    // Past too many wrong codes for this number, a verify needs a solved captcha as a send may.
    if (error.code === 'CAPTCHA_REQUIRED' || error.code === 'CAPTCHA_INVALID') {
      await askCaptcha('verify', error);
      return;
    }
    if (captchaFor === 'verify') hideCaptcha();
    if (!verified.ok) {
      show(describe(error), 'error');
      code.select();
      return;
    }
    forgetRequestId();
    // The token proves the verification to the app's own guarded routes.
    const me = await post('/api/me', {}, { 'x-sms-token': verified.body.token });
    if (!me.ok) {
      show(describe(me.body.error), 'error');
      return;
    }
    clearInterval(countdownTimer);
    $('who').textContent = `Signed in as ${me.body.phone}`;
    form.hidden = true;
    lead.hidden = true;
    signedIn.hidden = false;
  } finally {
    verifyButton.disabled = false;
  }
});

$('sign-out').addEventListener('click', () => {
  form.reset();
  forgetRequestId();
  clearMessage();
  hideCaptcha();
  devCode.hidden = true;
  sendButton.disabled = false;
  sendButton.textContent = 'Send code';
  signedIn.hidden = true;
  lead.hidden = false;
  form.hidden = false;
  phone.focus();
});

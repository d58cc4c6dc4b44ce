// Phone login page: send a code, verify it, then call a route guarded by requireSmsVerified. When a send
// needs a captcha (CAPTCHA_REQUIRED), it shows the image of GET /sms/captcha and sends again with the answer.
// Plain browser JavaScript, no build step.

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

sendButton.addEventListener('click', async () => {
  if (!phone.value.trim()) {
    show('Please enter your phone number.', 'error');
    phone.focus();
    return;
  }
  const answer = captchaAnswer.value.trim();
  if (!captchaBox.hidden && !answer) {
    show('Please type the characters in the picture.', 'error');
    captchaAnswer.focus();
    return;
  }
  clearMessage();
  sendButton.disabled = true;
  sendButton.textContent = 'Sending…';
  const withCaptcha = !captchaBox.hidden && captchaKey !== undefined;
  const { ok, body } = await post('/sms/send', {
    ...recipient(),
    ...(withCaptcha ? { captchaKey, captcha: answer } : {}),
  });
  const error = body.error ?? {};
  const captchaAgain = error.code === 'CAPTCHA_REQUIRED' || error.code === 'CAPTCHA_INVALID';
  // A captcha answers one send, right or wrong: it goes, or a fresh one replaces it below.
  if (!captchaAgain) hideCaptcha();
  if (ok) {
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
  // A captcha to solve is a step to take, not an error and not a success: a prompt.
  show(describe(error), error.code === 'CAPTCHA_REQUIRED' ? 'prompt' : 'error');
  if (captchaAgain) {
    sendButton.disabled = false;
    sendButton.textContent = 'Send code';
    await loadCaptcha();
    captchaAnswer.focus();
  } else if (error.code === 'RESEND_TOO_SOON' && typeof error.retryAfter === 'number') {
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

// Enter in the captcha field sends the code (the form's own submit is "Verify and sign in").
captchaAnswer.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  if (!sendButton.disabled) sendButton.click();
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
  clearMessage();
  verifyButton.disabled = true;
  try {
    const verified = await post('/sms/verify', { ...recipient(), code: code.value.trim() });
    if (!verified.ok) {
      show(describe(verified.body.error), 'error');
      code.select();
      return;
    }
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

// Phone login page: send a code, verify it, then call a route guarded by requireSmsVerified.
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

let countdownTimer;

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

function recipient() {
  return { phone: phone.value.trim(), country: country.value, purpose: 'login' };
}

sendButton.addEventListener('click', async () => {
  if (!phone.value.trim()) {
    show('Please enter your phone number.', 'error');
    phone.focus();
    return;
  }
  clearMessage();
  sendButton.disabled = true;
  sendButton.textContent = 'Sending…';
  const { ok, body } = await post('/sms/send', recipient());
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
  const error = body.error ?? {};
  show(describe(error), 'error');
  if (error.code === 'RESEND_TOO_SOON' && typeof error.retryAfter === 'number') {
    startCountdown(error.retryAfter);
  } else {
    sendButton.disabled = false;
    sendButton.textContent = 'Send code';
  }
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
  devCode.hidden = true;
  sendButton.disabled = false;
  sendButton.textContent = 'Send code';
  signedIn.hidden = true;
  lead.hidden = false;
  form.hidden = false;
  phone.focus();
});

// Calls to the functions, and what their answers mean for a person.
//
// Every failure is a CallError with a `kind`:
//   "unreachable"  no answer the page may read: the function is down, the URL is wrong, or
//                  its CORS_ORIGINS does not include this page's origin (a browser cannot
//                  tell these apart: all three are a network error to the page);
//   "busy"         429 (rate limited) or 503 (model loading, memory): `retryAfter` seconds;
//   "http"         any other error answer: `status`, `code` and `message` from its JSON body
//                  ({"error": {"code", "message"}}).

export class CallError extends Error {
  constructor(kind, message, { status = 0, code = "", retryAfter = 0, url = "" } = {}) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.url = url;
  }
}

const TIMEOUT_MS = 30000;
const DEFAULT_RETRY_S = 2;

/** Seconds from a Retry-After header (seconds or an HTTP date), at least 1. */
export function retryAfterSeconds(header) {
  if (!header) return DEFAULT_RETRY_S;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(1, Math.ceil((date - Date.now()) / 1000)) : DEFAULT_RETRY_S;
}

async function send(url, init, timeoutMs) {
  let response;
  try {
    response = await fetch(url, { ...init, mode: "cors", credentials: "omit", cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const timedOut = error && error.name === "TimeoutError";
    throw new CallError("unreachable", timedOut ? `no answer from ${url} within ${timeoutMs / 1000} s` : `cannot reach ${url}`, { url });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok && data && typeof data === "object") return data;
  const error = data && data.error ? data.error : {};
  const details = { status: response.status, code: error.code || `http_${response.status}`, url };
  const message = error.message || `HTTP ${response.status} without a JSON error`;
  if (response.status === 429 || response.status === 503) {
    throw new CallError("busy", message, { ...details, retryAfter: retryAfterSeconds(response.headers.get("Retry-After")) });
  }
  throw new CallError("http", message, details);
}

function keyHeaders(apiKey) {
  return apiKey ? { "X-API-Key": apiKey } : {};
}

/** POST a FormData (multipart) or a JSON-ready object; the answer's JSON, or a CallError. */
export function post(url, body, { apiKey = "", timeoutMs = TIMEOUT_MS } = {}) {
  if (body instanceof FormData) return send(url, { method: "POST", body, headers: keyHeaders(apiKey) }, timeoutMs);
  const headers = { "Content-Type": "application/json", ...keyHeaders(apiKey) };
  return send(url, { method: "POST", body: JSON.stringify(body), headers }, timeoutMs);
}

/** GET the function's health report ({function, ready, version, ...}). */
export function health(url, apiKey = "") {
  return send(url, { method: "GET", headers: keyHeaders(apiKey) }, 10000);
}

/**
 * `post` again while the function answers "busy", waiting what its Retry-After asks;
 * `onWait(secondsLeft, error)` is told each second. At most `attempts` calls.
 */
export async function postWithRetry(url, body, { apiKey = "", attempts = 3, onWait = () => {} } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await post(url, body, { apiKey });
    } catch (error) {
      if (!(error instanceof CallError) || error.kind !== "busy" || attempt >= attempts) throw error;
      await countdown(error.retryAfter, (left) => onWait(left, error));
    }
  }
}

/** Wait `seconds`, calling `tick(secondsLeft)` once a second. */
export async function countdown(seconds, tick = () => {}) {
  for (let left = seconds; left > 0; left--) {
    tick(left);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** What a person should read for an error that has no more specific message on the page. */
export function describe(error, functionName) {
  if (!(error instanceof CallError)) return `Something went wrong in this page: ${error && error.message ? error.message : error}`;
  switch (error.kind) {
    case "unreachable":
      return (
        `Cannot reach ${functionName} at ${error.url} (${error.message}). Is it running? ` +
        `\`make serve\` starts both functions. If it runs elsewhere, its CORS_ORIGINS setting must include ${location.origin}.`
      );
    case "busy":
      return `${functionName} is busy (${error.status}: ${error.message}). Try again in ${error.retryAfter} s.`;
    default:
      if (error.status === 401) return `${functionName} needs an API key: enter it under "Function URLs and API key".`;
      if (error.status === 413) return `That was too large for ${functionName}: ${error.message}.`;
      return `${functionName} answered ${error.status} (${error.code}): ${error.message}.`;
  }
}

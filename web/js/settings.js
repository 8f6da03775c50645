// Where the two functions are, and the optional API key.
//
// Order of precedence: the query string (?verify=URL&gesture=URL, remembered), then what
// was saved in this browser (localStorage), then the local defaults of `make serve`: this
// page's host on ports 8080 (verify_face) and 8081 (predict_gesture).
// The API key, when a deployment needs one, is kept for this tab only (sessionStorage):
// a key in a public page is readable by anyone, so a public deployment should not need one.

import { health } from "./api.js";

const STORE = { verify: "tflite-functions.verifyUrl", gesture: "tflite-functions.gestureUrl" };
const KEY_STORE = "tflite-functions.apiKey";
const NAMES = { verify: "verify_face", gesture: "predict_gesture" };

function defaults() {
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname || "127.0.0.1";
  return { verify: `http://${host}:8080/`, gesture: `http://${host}:8081/` };
}

/** A function URL as typed: http(s) only; "" when it is not one. */
export function cleanUrl(text) {
  try {
    const url = new URL(String(text).trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "";
  } catch {
    return "";
  }
}

/** {verify, gesture, apiKey}: the settings in force for this page. */
export function loadSettings() {
  const query = new URLSearchParams(location.search);
  const settings = { apiKey: sessionStorage.getItem(KEY_STORE) || "" };
  for (const name of Object.keys(STORE)) {
    const fromQuery = cleanUrl(query.get(name) || "");
    if (fromQuery) localStorage.setItem(STORE[name], fromQuery);
    settings[name] = fromQuery || cleanUrl(localStorage.getItem(STORE[name]) || "") || defaults()[name];
  }
  return settings;
}

function saveSettings(settings) {
  for (const name of Object.keys(STORE)) localStorage.setItem(STORE[name], settings[name]);
  if (settings.apiKey) sessionStorage.setItem(KEY_STORE, settings.apiKey);
  else sessionStorage.removeItem(KEY_STORE);
}

function field(name, label, value, type = "url") {
  const wrap = document.createElement("label");
  wrap.textContent = label;
  const status = document.createElement("span");
  status.className = "health";
  status.id = `${name}-health`;
  wrap.append(status);
  const input = document.createElement("input");
  input.type = type;
  input.id = `${name}-url`;
  input.name = name;
  input.value = value;
  input.autocomplete = "off";
  input.spellcheck = false;
  wrap.append(input);
  return [wrap, input, status];
}

async function showHealth(name, url, apiKey, status) {
  status.textContent = "checking…";
  status.dataset.health = "checking";
  try {
    const report = await health(url, apiKey);
    status.dataset.health = "ready";
    status.textContent = report.ready ? `ready (${report.version || "?"})` : `answering, models load on the first request (${report.version || "?"})`;
  } catch (error) {
    status.dataset.health = "unreachable";
    status.textContent = error.kind === "unreachable" ? "unreachable from this page" : `answers ${error.status}: ${error.message}`;
  }
}

/**
 * Fill `container` with the settings form; `onChange(settings)` runs after each save.
 * Returns the settings in force. `only` limits the form to one function ("verify", "gesture").
 */
export function settingsPanel(container, onChange = () => {}, only = null) {
  const settings = loadSettings();
  const details = document.createElement("details");
  details.className = "settings";
  const summary = document.createElement("summary");
  summary.textContent = "Function URLs and API key";
  const form = document.createElement("form");
  form.id = "settings-form";
  const inputs = {};
  const statuses = {};
  for (const name of Object.keys(STORE)) {
    if (only && name !== only) continue;
    const [wrap, input, status] = field(name, `${NAMES[name]} URL `, settings[name]);
    inputs[name] = input;
    statuses[name] = status;
    form.append(wrap);
  }
  const [keyWrap, keyInput] = field("api-key", "X-API-Key (only if the deployment sets API_KEY; kept for this tab only) ", settings.apiKey, "password");
  keyInput.id = "api-key";
  keyInput.required = false;
  form.append(keyWrap);
  const row = document.createElement("div");
  row.className = "row";
  const save = document.createElement("button");
  save.type = "submit";
  save.id = "save-settings";
  save.textContent = "Save and check";
  const note = document.createElement("span");
  note.className = "muted small";
  note.textContent = `This page's origin is ${location.origin}: the functions' CORS_ORIGINS must include it.`;
  row.append(save, note);
  form.append(row);
  details.append(summary, form);
  container.replaceChildren(details);

  const check = () => {
    for (const [name, status] of Object.entries(statuses)) showHealth(NAMES[name], settings[name], settings.apiKey, status);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const [name, input] of Object.entries(inputs)) {
      const url = cleanUrl(input.value);
      if (!url) {
        input.setCustomValidity("an http:// or https:// URL");
        input.reportValidity();
        return;
      }
      input.setCustomValidity("");
      settings[name] = url;
    }
    settings.apiKey = keyInput.value.trim();
    saveSettings(settings);
    check();
    onChange(settings);
  });
  check();
  return settings;
}

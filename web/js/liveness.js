// The liveness page: a challenge from verify_face, its actions shown one at a time while
// frames are taken at ~10 fps, then one multipart request: frames, challenge, img2.

import { CallError, describe, post, postWithRetry } from "./api.js";
import { CameraError, grabFrame, startCamera, stopCamera, toJpeg } from "./camera.js";
import { drawPhoto } from "./draw.js";
import { settingsPanel } from "./settings.js";

const $ = (id) => document.getElementById(id);
const FUNCTION = "verify_face";
const FPS = 10;
const SETTLE_MS = 400; // frontal frames before the first action: the baseline
const BURST_MS = 2800; // the whole burst: ~28 frames, under the function's 30 (MAX_LIVENESS_FRAMES)
const MAX_FRAMES = 30;
const FRAME_SIDE = 640;
// What each action asks, in words; the frames are sent unmirrored, the preview is mirrored.
const WORDS = {
  turn_left: "Turn your head to your left, then back",
  turn_right: "Turn your head to your right, then back",
  look_up: "Look up, then back",
  blink: "Blink",
};

let settings = settingsPanel($("settings-panel"), (changed) => (settings = changed), "verify");
let idPhoto = null;

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

async function chooseId(file) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    drawPhoto($("id-canvas"), bitmap);
    $("id-canvas").hidden = false;
    $("id-empty").hidden = true;
    idPhoto = file;
    $("start").disabled = false;
  } catch {
    setStatus("error", "That file is not an image this browser can show. Choose a JPEG, PNG or WebP photo.");
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Frames for `ms` milliseconds at FPS, as JPEG blobs appended to `frames`. */
async function capture(video, frames, ms) {
  const until = performance.now() + ms;
  while (performance.now() < until && frames.length < MAX_FRAMES) {
    const started = performance.now();
    frames.push(await toJpeg(grabFrame(video, $("grab"), FRAME_SIDE), 0.8));
    await sleep(Math.max(0, 1000 / FPS - (performance.now() - started)));
  }
}

async function run() {
  $("start").disabled = true;
  $("result").hidden = true;
  let stream = null;
  try {
    setStatus("working", "Asking for a challenge…");
    const { challenge } = await post(settings.verify, { liveness: "challenge" }, { apiKey: settings.apiKey });
    $("prompt").dataset.actions = JSON.stringify(challenge.actions);
    stream = await startCamera($("video"));
    $("video").hidden = false;
    const frames = [];
    $("prompt").textContent = "Look at the camera";
    await capture($("video"), frames, SETTLE_MS);
    for (const action of challenge.actions) {
      $("prompt").textContent = WORDS[action];
      $("prompt").dataset.action = action;
      await capture($("video"), frames, (BURST_MS - SETTLE_MS) / challenge.actions.length);
    }
    $("prompt").textContent = "Done";
    stopCamera(stream, $("video"));
    stream = null;
    const form = new FormData();
    frames.forEach((blob, i) => form.append("frames", blob, `frame${i}.jpg`));
    form.append("challenge", challenge.token);
    form.append("img2", idPhoto, idPhoto.name || "id.jpg");
    setStatus("working", `Checking ${frames.length} frames…`);
    const answer = await postWithRetry(settings.verify, form, { apiKey: settings.apiKey, onWait: (s) => setStatus("waiting", `Busy; trying again in ${s} s…`) });
    show(answer, frames.length);
  } catch (error) {
    if (stream) stopCamera(stream, $("video"));
    if (error instanceof CameraError) setStatus("error", error.message);
    else if (error instanceof CallError && error.code === "liveness_disabled") setStatus("error", "Liveness is not enabled on this function: set LIVENESS_SECRET (32 bytes or more).");
    else setStatus(error instanceof CallError && error.kind === "unreachable" ? "unreachable" : "error", describe(error, FUNCTION));
  } finally {
    $("start").disabled = !idPhoto;
  }
}

function show(answer, sent) {
  const live = answer.liveness;
  const verdict = $("verdict");
  verdict.dataset.verdict = answer.verified ? "verified" : "not-verified";
  verdict.dataset.liveness = JSON.stringify(live);
  verdict.textContent = answer.verified ? "Verified: a live person, the same as the ID photo." : "Not verified.";
  const parts = [live.passed ? "The actions were done as asked." : `Liveness failed: ${live.reason}.`];
  if ("match" in answer) parts.push(answer.match ? "The face matches the ID photo." : "The face does not match the ID photo.");
  $("explanation").textContent = `${parts.join(" ")} (${sent} frames sent.)`;
  $("result").hidden = false;
  setStatus("done", "");
}

$("id-file").addEventListener("change", (event) => event.target.files[0] && chooseId(event.target.files[0]));
$("start").addEventListener("click", run);
document.body.dataset.ready = "true"; // the page's modules loaded (the browser tests wait for it)

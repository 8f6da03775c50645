// The gesture page. Two ways to call predict_gesture:
// - camera: frames scaled down on a canvas, sent as JPEG (multipart `image`, `model`,
//   `return_landmarks`) about four times a second, one request in flight at most; the sign
//   and the hand landmarks the function found are drawn over the video;
// - landmarks: JSON `{"landmarks": [[[x, y, z] x 21]], "model": "hand-sign"}`, as a page
//   running MediaPipe in the browser would send; the landmarks are drawn as sent.

import { CallError, countdown, describe, post } from "./api.js";
import { CameraError, grabFrame, startCamera, stopCamera, toJpeg } from "./camera.js";
import { clipType, recordClip } from "./clip.js";
import { drawHand, drawHandBox } from "./draw.js";
import { settingsPanel } from "./settings.js";

const $ = (id) => document.getElementById(id);
const FUNCTION = "predict_gesture";
const MODEL = "hand-sign";
const FRAME_MAX_SIDE = 480; // enough for the palm detector (192 px) and the landmark crop (224 px)
const JPEG_QUALITY = 0.8; // ~20-40 KB a frame at 480 px
const INTERVAL_MS = 250; // at most 4 frames a second
const UNREACHABLE_RETRY_MS = 3000;
const CLIP_MS = 2000; // a recorded clip: predict_gesture samples it to the model's frame count

let settings = settingsPanel($("settings-panel"), (changed) => (settings = changed), "gesture");
const camera = { stream: null, running: false, recording: false, timer: 0, sent: 0, answered: 0, startedAt: 0, frame: document.createElement("canvas") };

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function showPrediction(answer) {
  $("sign").textContent = answer.label;
  $("sign").dataset.label = answer.label;
  $("score").textContent = `${Math.round(answer.score * 100)}% sure (model ${answer.model})`;
  $("top-k").replaceChildren(
    ...(answer.top_k || []).map((entry) => {
      const item = document.createElement("li");
      item.textContent = `${entry.label}: ${Math.round(entry.probability * 100)}%`;
      return item;
    }),
  );
}

function clearPrediction(text = "–") {
  $("sign").textContent = text;
  $("sign").dataset.label = "";
  $("score").textContent = "";
  $("top-k").replaceChildren();
}

// ---- camera mode ------------------------------------------------------------------------

/** Hands of the (single) frame sent, drawn over the video; how many were drawn. */
function drawAnswerHands(answer, width, height) {
  const overlay = $("overlay");
  overlay.width = width;
  overlay.height = height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const hands = (answer.hands && answer.hands[0]) || [];
  let points = 0;
  for (const hand of hands) {
    if (hand.box) drawHandBox(ctx, hand.box);
    points += drawHand(ctx, hand.landmarks, width, height);
  }
  overlay.dataset.hands = String(hands.length);
  overlay.dataset.points = String(points);
  overlay.dataset.landmarks = JSON.stringify(hands.map((h) => h.landmarks));
  return hands.length;
}

function clearOverlay() {
  const overlay = $("overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.hands = "0";
  overlay.dataset.points = "0";
}

function showRate() {
  const seconds = (performance.now() - camera.startedAt) / 1000;
  $("rate").textContent = `${camera.answered} answers to ${camera.sent} frames, ${(camera.sent / Math.max(seconds, 1)).toFixed(1)} frames/s`;
  $("rate").dataset.sent = String(camera.sent);
}

/** Milliseconds before the next frame, or null to stop, after `error`. */
async function cameraError(error) {
  if (error instanceof CallError && error.code === "no_hand") {
    clearOverlay();
    clearPrediction("no hand");
    setStatus("no-hand", "No hand in view: hold one hand up inside the frame, palm towards the camera.");
    return INTERVAL_MS;
  }
  if (error instanceof CallError && error.kind === "busy") {
    await countdown(error.retryAfter, (left) => camera.running && setStatus("busy", `${FUNCTION} is busy (${error.status}: ${error.message}). Sending again in ${left} s…`));
    return 0;
  }
  if (error instanceof CallError && error.kind === "unreachable") {
    setStatus("unreachable", `${describe(error, FUNCTION)} Trying again every ${UNREACHABLE_RETRY_MS / 1000} s.`);
    return UNREACHABLE_RETRY_MS;
  }
  if (error instanceof CallError && (error.status === 415 || (error.status === 400 && /unknown field/.test(error.message)))) {
    setStatus(
      "unsupported",
      `This ${FUNCTION} does not take camera frames (it answered ${error.status}: ${error.message}). ` +
        "It needs the pixel input (an image); until it has it, use Landmarks mode.",
    );
    return null;
  }
  setStatus("error", describe(error, FUNCTION));
  return null;
}

async function tick() {
  if (!camera.running) return;
  if (camera.recording) {
    camera.timer = setTimeout(tick, INTERVAL_MS);
    return;
  }
  const started = performance.now();
  const frame = grabFrame($("video"), camera.frame, FRAME_MAX_SIDE);
  const form = new FormData();
  form.append("image", await toJpeg(frame, JPEG_QUALITY), "frame.jpg");
  form.append("model", MODEL);
  form.append("return_landmarks", "true");
  camera.sent += 1;
  let delay = INTERVAL_MS;
  try {
    const answer = await post(settings.gesture, form, { apiKey: settings.apiKey });
    if (!camera.running) return;
    camera.answered += 1;
    drawAnswerHands(answer, frame.width, frame.height);
    showPrediction(answer);
    setStatus("done", `Sign: ${answer.label}.`);
  } catch (error) {
    if (!camera.running) return;
    delay = await cameraError(error);
  }
  showRate();
  if (delay === null) {
    stopTheCamera(false);
    return;
  }
  if (camera.running) camera.timer = setTimeout(tick, Math.max(0, delay - (performance.now() - started)));
}

async function startTheCamera() {
  $("start").disabled = true;
  setStatus("working", "Starting the camera…");
  try {
    camera.stream = await startCamera($("video"), { width: 640, height: 480 });
  } catch (error) {
    $("start").disabled = false;
    setStatus(error instanceof CameraError ? (error.kind === "denied" ? "denied" : "no-camera") : "error", error.message);
    return;
  }
  $("stage").hidden = false;
  $("stop").disabled = false;
  $("record").disabled = !clipType();
  Object.assign(camera, { running: true, sent: 0, answered: 0, startedAt: performance.now() });
  setStatus("working", `Sending frames to ${FUNCTION}…`);
  tick();
}

function stopTheCamera(resetStatus = true) {
  camera.running = false;
  clearTimeout(camera.timer);
  stopCamera(camera.stream, $("video"));
  camera.stream = null;
  $("stage").hidden = true;
  $("start").disabled = false;
  $("stop").disabled = true;
  $("record").disabled = true;
  if (resetStatus) setStatus("idle", "Camera stopped.");
}

/** Record CLIP_MS of the camera, stop it, and send the clip whole as `video`. */
async function sendClip() {
  if (!camera.stream) return;
  camera.recording = true;
  $("record").disabled = true;
  setStatus("working", `Recording ${CLIP_MS / 1000} s of video…`);
  try {
    const clip = await recordClip(camera.stream, CLIP_MS);
    stopTheCamera(false);
    const form = new FormData();
    form.append("video", clip, clip.type === "video/mp4" ? "clip.mp4" : "clip.webm");
    form.append("model", MODEL);
    setStatus("working", `Sending the clip (${Math.round(clip.size / 1024)} KB) to ${FUNCTION}…`);
    const answer = await post(settings.gesture, form, { apiKey: settings.apiKey });
    showPrediction(answer);
    $("sign").dataset.source = "clip";
    setStatus("done", `Clip: ${answer.label} (${answer.frames_received} frame(s) sampled from ${Math.round(clip.size / 1024)} KB).`);
  } catch (error) {
    setStatus("error", error instanceof CallError ? describe(error, FUNCTION) : error.message);
  } finally {
    camera.recording = false;
  }
}

// ---- landmark mode ----------------------------------------------------------------------

function drawSentLandmarks(request) {
  const canvas = $("landmarks-canvas");
  const [w, h] = Array.isArray(request.image_size) ? request.image_size : [1, 1];
  canvas.height = Math.round(canvas.width * (h / w));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#20262e";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const frames = request.landmarks;
  const last = frames[frames.length - 1];
  const points = last && last.length === 21 && last.every((p) => Array.isArray(p) && p.every((v) => typeof v === "number")) ? drawHand(ctx, last, canvas.width, canvas.height) : 0;
  canvas.dataset.points = String(points);
}

async function sendLandmarks() {
  let request;
  try {
    request = JSON.parse($("landmarks-json").value);
  } catch (error) {
    setStatus("error", `That is not JSON: ${error.message}`);
    return;
  }
  if (!request || typeof request !== "object" || Array.isArray(request) || !Array.isArray(request.landmarks)) {
    setStatus("error", 'Expected a JSON object with "landmarks": frames of 21 [x, y, z] points.');
    return;
  }
  if (!request.model) request.model = MODEL;
  drawSentLandmarks(request);
  clearPrediction();
  setStatus("working", `Sending ${request.landmarks.length} frame(s) of landmarks to ${FUNCTION}…`);
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await post(settings.gesture, request, { apiKey: settings.apiKey });
      showPrediction(answer);
      setStatus("done", `Sign: ${answer.label}.`);
      return;
    } catch (error) {
      if (error instanceof CallError && error.kind === "busy" && attempt < 3) {
        await countdown(error.retryAfter, (left) => setStatus("busy", `${FUNCTION} is busy (${error.status}: ${error.message}). Trying again in ${left} s…`));
        continue;
      }
      setStatus(error instanceof CallError && error.kind === "unreachable" ? "unreachable" : "error", describe(error, FUNCTION));
      return;
    }
  }
}

async function loadExample() {
  try {
    const response = await fetch("examples/hand-open.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    $("landmarks-json").value = JSON.stringify(await response.json(), null, 1);
    setStatus("idle", "Example loaded: 21 landmarks of an open hand. Send it.");
  } catch (error) {
    setStatus("error", `The example could not be loaded from this page's server (${error.message}).`);
  }
}

// ---- wiring -----------------------------------------------------------------------------

function showMode() {
  const landmarks = $("mode-landmarks").checked;
  $("camera-mode").hidden = landmarks;
  $("landmarks-mode").hidden = !landmarks;
  if (landmarks && camera.running) stopTheCamera();
  clearPrediction();
  setStatus("idle", "");
}

$("mode-camera").addEventListener("change", showMode);
$("mode-landmarks").addEventListener("change", showMode);
$("start").addEventListener("click", startTheCamera);
$("stop").addEventListener("click", () => stopTheCamera());
$("record").addEventListener("click", sendClip);
$("load-example").addEventListener("click", loadExample);
$("send-landmarks").addEventListener("click", sendLandmarks);
$("landmarks-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) $("landmarks-json").value = await file.text();
});
if (new URLSearchParams(location.search).get("mode") === "landmarks") {
  $("mode-landmarks").checked = true;
  showMode();
}
document.body.dataset.ready = "true"; // the page's modules loaded (the browser tests wait for it)

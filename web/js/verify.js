// The verify page: a selfie (camera or file) and an ID photo -> verify_face -> verdict,
// distance and threshold in words, face boxes and eyes drawn on both photos.

import { CallError, describe, postWithRetry } from "./api.js";
import { CameraError, grabFrame, startCamera, stopCamera, toJpeg } from "./camera.js";
import { COLOURS, drawPhoto } from "./draw.js";
import { settingsPanel } from "./settings.js";

const $ = (id) => document.getElementById(id);
const FUNCTION = "verify_face";
const WHICH = { img1: "your selfie", img2: "the ID photo" };
const SELFIE_MAX_SIDE = 1280; // the function scales photos to MAX_IMAGE_SIDE (1280) anyway

let settings = settingsPanel($("settings-panel"), (changed) => (settings = changed), "verify");
const photos = { img1: null, img2: null }; // {blob, bitmap} per slot
const slots = { img1: { canvas: $("selfie-canvas"), empty: $("selfie-empty") }, img2: { canvas: $("id-canvas"), empty: $("id-empty") } };
let stream = null;

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

function showPhoto(slot, area = null, colour = COLOURS.face) {
  const { canvas, empty } = slots[slot];
  drawPhoto(canvas, photos[slot].bitmap, area, colour);
  canvas.dataset.face = area ? JSON.stringify(area) : "";
  canvas.hidden = false;
  empty.hidden = true;
}

function clearResult() {
  $("result").hidden = true;
  $("verdict").dataset.verdict = "";
  for (const slot of Object.keys(photos)) if (photos[slot]) showPhoto(slot);
}

function updateCompare() {
  const ready = Boolean(photos.img1 && photos.img2);
  $("compare").disabled = !ready;
  $("compare-hint").textContent = ready ? "" : `Needs ${[!photos.img1 && "a selfie", !photos.img2 && "an ID photo"].filter(Boolean).join(" and ")}.`;
}

async function setPhoto(slot, blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" }); // upright, as the function sees it
  } catch {
    setStatus("error", `That file is not an image this browser can show (${blob.type || "unknown type"}). Choose a JPEG, PNG or WebP photo.`);
    return;
  }
  photos[slot] = { blob, bitmap };
  clearResult();
  showPhoto(slot);
  updateCompare();
  setStatus("idle", "");
}

async function useCamera() {
  setStatus("working", "Starting the camera…");
  try {
    stream = await startCamera($("selfie-video"), { width: 1280, height: 720 });
  } catch (error) {
    const state = error instanceof CameraError ? (error.kind === "denied" ? "denied" : "no-camera") : "error";
    setStatus(state, error.message);
    return;
  }
  $("selfie-video").hidden = false;
  slots.img1.canvas.hidden = true;
  slots.img1.empty.hidden = true;
  $("selfie-snap").hidden = false;
  $("selfie-camera").hidden = true;
  setStatus("idle", "Look at the camera, then take the photo.");
}

async function snap() {
  const frame = grabFrame($("selfie-video"), document.createElement("canvas"), SELFIE_MAX_SIDE);
  stopCamera(stream, $("selfie-video"));
  stream = null;
  $("selfie-video").hidden = true;
  $("selfie-snap").hidden = true;
  $("selfie-camera").hidden = false;
  $("selfie-camera").textContent = "Take another";
  await setPhoto("img1", await toJpeg(frame, 0.9));
}

function words(answer) {
  const distance = answer.distance.toFixed(3);
  const threshold = answer.threshold.toFixed(3);
  if (answer.verified) {
    return [
      "Same person",
      `The two faces are ${distance} apart. This deployment counts photos as the same person when they are at most ${threshold} apart (lower means more alike).`,
    ];
  }
  return [
    "Not the same person",
    `The two faces are ${distance} apart, more than the ${threshold} up to which this deployment counts photos as the same person (lower means more alike).`,
  ];
}

function showAnswer(answer) {
  const colour = answer.verified ? COLOURS.verified : COLOURS.notVerified;
  for (const slot of Object.keys(photos)) showPhoto(slot, answer.facial_areas[slot], colour);
  const [verdict, explanation] = words(answer);
  $("verdict").textContent = verdict;
  $("verdict").dataset.verdict = answer.verified ? "verified" : "not-verified";
  $("explanation").textContent = explanation;
  const many = Object.entries(answer.faces_found || {})
    .filter(([, n]) => n > 1)
    .map(([slot, n]) => `${WHICH[slot]} holds ${n} faces; the largest was compared.`);
  const total = answer.time_ms && answer.time_ms.total;
  $("details").textContent = [...many, `Model ${answer.model}, ${answer.similarity_metric} distance${total ? `, ${Math.round(total)} ms in the function` : ""}.`].join(" ");
  $("result").hidden = false;
  setStatus("done", "Compared.");
}

function showError(error) {
  if (error instanceof CallError && error.code === "no_face") {
    const slot = /img1/.test(error.message) ? "img1" : /img2/.test(error.message) ? "img2" : null;
    const which = slot ? WHICH[slot] : "one of the photos";
    setStatus("no-face", `No face found in ${which}. Use a photo where the whole face is visible, well lit and turned towards the camera.`);
    return;
  }
  if (error instanceof CallError && error.kind === "unreachable") {
    setStatus("unreachable", describe(error, FUNCTION));
    return;
  }
  if (error instanceof CallError && error.kind === "busy") {
    setStatus("busy", `${FUNCTION} is still busy after several tries (${error.status}: ${error.message}). Try again in a minute.`);
    return;
  }
  setStatus("error", describe(error, FUNCTION));
}

async function compare() {
  const form = new FormData();
  form.append("img1", photos.img1.blob, "selfie.jpg");
  form.append("img2", photos.img2.blob, photos.img2.blob.name || "id-photo.jpg");
  $("compare").disabled = true;
  clearResult();
  setStatus("working", `Sending both photos to ${FUNCTION}…`);
  try {
    const answer = await postWithRetry(settings.verify, form, {
      apiKey: settings.apiKey,
      onWait: (left, error) => setStatus("waiting", `${FUNCTION} is busy (${error.status}: ${error.message}). Trying again in ${left} s…`),
    });
    showAnswer(answer);
  } catch (error) {
    showError(error);
  } finally {
    updateCompare();
  }
}

$("selfie-camera").addEventListener("click", useCamera);
$("selfie-snap").addEventListener("click", snap);
$("selfie-file").addEventListener("change", (event) => event.target.files[0] && setPhoto("img1", event.target.files[0]));
$("id-file").addEventListener("change", (event) => event.target.files[0] && setPhoto("img2", event.target.files[0]));
$("compare").addEventListener("click", compare);
document.body.dataset.ready = "true"; // the page's modules loaded (the browser tests wait for it)

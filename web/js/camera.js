// The camera: permission, start and stop, and frames taken from it as downscaled JPEGs.
//
// getUserMedia needs a secure context: https, or http on localhost / 127.0.0.1 (as
// `make serve` serves the page). Every failure is a CameraError with a `kind` the page
// shows in words: "unsupported", "denied", "no-camera", "busy".

export class CameraError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** Start the front camera into `video`; the MediaStream, or a CameraError. */
export async function startCamera(video, { width = 640, height = 480 } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new CameraError("unsupported", "This browser cannot use a camera on this page: it needs https (or http on localhost).");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: width }, height: { ideal: height }, facingMode: "user" },
      audio: false,
    });
  } catch (error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new CameraError(
        "denied",
        "Camera permission was refused. Allow the camera for this page (the camera icon in the address bar) and try again, or choose a photo instead.",
      );
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") throw new CameraError("no-camera", "No camera was found on this device. Choose a photo instead.");
    if (name === "NotReadableError" || name === "AbortError") throw new CameraError("busy", "The camera is in use by another program, or could not start. Close it there and try again.");
    throw new CameraError("unsupported", `The camera could not start (${name || error}).`);
  }
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play();
  if (!video.videoWidth) await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  return stream;
}

export function stopCamera(stream, video) {
  if (stream) for (const track of stream.getTracks()) track.stop();
  if (video) video.srcObject = null;
}

/** Draw the video's current frame on `canvas`, its longer side at most `maxSide` pixels. */
export function grabFrame(video, canvas, maxSide = Infinity) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return canvas;
}

/** The canvas as a JPEG Blob. */
export function toJpeg(canvas, quality = 0.85) {
  return new Promise((resolve, reject) => canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the frame could not be encoded"))), "image/jpeg", quality));
}

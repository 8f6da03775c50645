// Recording a short clip from the camera with MediaRecorder, for predict_gesture's `video`
// field (WebM as Chromium and Firefox record it, MP4 as Safari does).

const TYPES = ["video/webm;codecs=vp8", "video/webm", "video/mp4"];

/** The recorder's container type, or "" when this browser records none of ours. */
export function clipType() {
  if (typeof MediaRecorder === "undefined") return "";
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

/** `ms` milliseconds of `stream` as one Blob (its type says the container). */
export function recordClip(stream, ms) {
  const type = clipType();
  if (!type) return Promise.reject(new Error("This browser cannot record video (no MediaRecorder for WebM or MP4)."));
  return new Promise((resolve, reject) => {
    const chunks = [];
    const recorder = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 1_500_000 });
    recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
    recorder.onerror = (event) => reject(event.error || new Error("recording failed"));
    recorder.onstop = () => resolve(new Blob(chunks, { type: type.split(";")[0] }));
    recorder.start();
    setTimeout(() => recorder.state !== "inactive" && recorder.stop(), ms);
  });
}

// Drawing answers over photos and video: face boxes and eyes, hand landmarks.
// Coordinates: verify_face's boxes and eyes are pixels of the upright photo (EXIF applied,
// origin top-left), which is how a browser draws an image; hand landmarks are normalised
// (0..1) image coordinates, x to the right and y down, as MediaPipe gives them.

export const COLOURS = { verified: "rgb(0, 170, 70)", notVerified: "rgb(230, 40, 30)", face: "rgb(255, 190, 0)", hand: "rgb(0, 200, 255)", joint: "rgb(255, 255, 255)" };

// MediaPipe's 21 hand landmarks: 0 wrist; 1-4 thumb; 5-8 index; 9-12 middle; 13-16 ring; 17-20 little.
export const HAND_CONNECTIONS = [
  [0, 1], [1, 2], [2, 3], [3, 4],
  [0, 5], [5, 6], [6, 7], [7, 8],
  [5, 9], [9, 10], [10, 11], [11, 12],
  [9, 13], [13, 14], [14, 15], [15, 16],
  [13, 17], [0, 17], [17, 18], [18, 19], [19, 20],
];

/** Draw `image` (an ImageBitmap or canvas) at full size on `canvas`, and `area` over it. */
export function drawPhoto(canvas, image, area = null, colour = COLOURS.face) {
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  if (area) drawFace(ctx, area, colour);
}

/** A face box with its eyes: {x, y, w, h, left_eye: [x, y], right_eye: [x, y], score}. */
export function drawFace(ctx, area, colour) {
  const line = Math.max(2, Math.round(Math.max(area.w, area.h) / 45));
  ctx.save();
  ctx.lineWidth = line;
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.strokeRect(area.x, area.y, area.w, area.h);
  for (const eye of [area.left_eye, area.right_eye]) {
    if (!eye) continue;
    ctx.beginPath();
    ctx.arc(eye[0], eye[1], line * 1.6, 0, 2 * Math.PI);
    ctx.fill();
  }
  if (typeof area.score === "number") {
    const size = Math.max(12, line * 6);
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    const text = `face ${Math.round(area.score * 100)}%`;
    const y = area.y > size + line ? area.y - line : area.y + area.h + size + line;
    ctx.lineWidth = Math.max(2, size / 5);
    ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
    ctx.strokeText(text, area.x, y);
    ctx.fillText(text, area.x, y);
  }
  ctx.restore();
}

/** One hand's 21 landmarks ([x, y(, z)], normalised) on a canvas of width x height. */
export function drawHand(ctx, landmarks, width, height, colour = COLOURS.hand) {
  const px = landmarks.map((p) => [p[0] * width, p[1] * height]);
  const line = Math.max(2, Math.round(Math.min(width, height) / 160));
  ctx.save();
  ctx.lineWidth = line;
  ctx.strokeStyle = colour;
  ctx.lineCap = "round";
  for (const [a, b] of HAND_CONNECTIONS) {
    if (!px[a] || !px[b]) continue;
    ctx.beginPath();
    ctx.moveTo(px[a][0], px[a][1]);
    ctx.lineTo(px[b][0], px[b][1]);
    ctx.stroke();
  }
  ctx.fillStyle = COLOURS.joint;
  for (const [x, y] of px) {
    ctx.beginPath();
    ctx.arc(x, y, line * 1.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();
  return px.length;
}

/** A hand's box ({x, y, w, h} in pixels of the photo sent) as a dashed rectangle. */
export function drawHandBox(ctx, box, colour = COLOURS.hand) {
  ctx.save();
  ctx.lineWidth = Math.max(1, Math.round(Math.max(box.w, box.h) / 80));
  ctx.strokeStyle = colour;
  ctx.setLineDash([8, 6]);
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  ctx.restore();
}

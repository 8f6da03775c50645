// Reference face descriptors from face-api itself (tools/build/build_face_embedder_bundle.py --verify-node).
//
// Runs @vladmandic/face-api's FaceRecognitionNet.computeFaceDescriptor on the tfjs pure-JS
// CPU backend (no native tfjs-node binary). The tool npm-installs the face-api tgz and
// @tensorflow/tfjs into a temporary folder, copies this file there and runs it.
//
// usage: node faceapi_reference.mjs MODEL_DIR CROPS_BIN COUNT OUT_BIN
//   CROPS_BIN: COUNT x 150 x 150 x 3 uint8 RGB crops, row-major.
//   OUT_BIN:   COUNT x 128 float32 little-endian descriptors.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
// The node-wasm build takes tfjs from node_modules (the node build would need tfjs-node).
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const SIZE = 150;
const DIMS = 128;

async function main() {
  const [modelDir, cropsPath, countArg, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: node faceapi_reference.mjs MODEL_DIR CROPS_BIN COUNT OUT_BIN');
  const count = Number.parseInt(countArg, 10);
  const { tf } = faceapi;
  await tf.setBackend('cpu');
  await tf.ready();

  const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
  const weights = fs.readFileSync(path.join(modelDir, 'face_recognition_model.bin'));
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length);
  faceapi.nets.faceRecognitionNet.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));

  const crops = fs.readFileSync(cropsPath);
  const per = SIZE * SIZE * 3;
  if (crops.length !== count * per) throw new Error(`${cropsPath}: ${crops.length} bytes, expected ${count} x ${per}`);
  const out = new Float32Array(count * DIMS);
  for (let i = 0; i < count; i += 1) {
    const pixels = Float32Array.from(crops.subarray(i * per, (i + 1) * per));
    const input = tf.tensor3d(pixels, [SIZE, SIZE, 3], 'float32');
    const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(input);
    input.dispose();
    out.set(descriptor, i * DIMS);
  }
  fs.writeFileSync(outPath, Buffer.from(out.buffer));
  console.log(JSON.stringify({ backend: tf.getBackend(), tfjs: tf.version.tfjs, faceapi: faceapi.version, count }));
}

main().catch((err) => { console.error(err); process.exit(1); });

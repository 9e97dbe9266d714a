// Preprocessing exactly as the manifest's input spec says: shorter side resized to the model's
// size, centre-cropped (no stretching), RGB 0-255 as float32, NCHW. Normalisation and softmax
// are inside the model. The training pipeline does the same in Python (fit_square). Then the
// answer: the top labels, and whether it is too unsure to name one.

/** Python's round(): halves go to the even neighbour, so both sides pick the same size. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The resized size and the crop window for an image of width x height and a square model input. */
export function fitSquare(width, height, size) {
  const scale = size / Math.min(width, height);
  const resizedWidth = Math.max(size, roundHalfEven(width * scale));
  const resizedHeight = Math.max(size, roundHalfEven(height * scale));
  return {
    resizedWidth,
    resizedHeight,
    left: Math.floor((resizedWidth - size) / 2),
    top: Math.floor((resizedHeight - size) / 2),
  };
}

/** A JPEG's stored width and height, from its frame header (SOF), or null when ``bytes`` (the
 *  file's start) is not a JPEG or ends before its frame header. */
export function jpegSize(bytes) {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // a fill byte before the marker
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2; // a marker without a segment
      continue;
    }
    // SOF0-15 carry the size; C4 (Huffman tables), C8 and CC (arithmetic coding) do not
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      if (at + 9 > bytes.length) return null;
      const height = (bytes[at + 5] << 8) | bytes[at + 6];
      const width = (bytes[at + 7] << 8) | bytes[at + 8];
      return width && height ? { width, height } : null;
    }
    if (marker === 0xda || marker === 0xd9) return null; // a scan or the end, and no frame header
    at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return null;
}

/** The reduced scale (1, 2, 4 or 8) at which the training pipeline decodes a JPEG of width x
 *  height for a size x size input, and the size it decodes to: Pillow's ``draft`` asked for twice
 *  the input (fit_square), which picks JPEG's DCT scaling, so most of a 12 MP photo is never
 *  turned into pixels. The page asks its decoder for the same size. */
export function jpegDraft(width, height, size) {
  const most = Math.min(Math.floor(width / (2 * size)), Math.floor(height / (2 * size)));
  const scale = [8, 4, 2, 1].find((s) => most >= s) ?? 1;
  return { scale, width: Math.ceil(width / scale), height: Math.ceil(height / scale) };
}

/** RGBA bytes (canvas order, row-major) of a size x size crop -> float32 NCHW RGB 0-255. */
export function rgbaToNchw(rgba, size) {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p += 1, i += 4) {
    out[p] = rgba[i];
    out[p + plane] = rgba[i + 1];
    out[p + 2 * plane] = rgba[i + 2];
  }
  return out;
}

/** The k most likely labels, highest first. */
export function topK(probabilities, labels, k = 5) {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
  return order.slice(0, Math.min(k, labels.length)).map((i) => ({
    label: labels[i],
    confidence: Math.min(1, Math.max(0, probabilities[i])),
  }));
}

/** The top-1 confidence below which the page says "not sure" instead of naming a class: the
 *  manifest's unsure_below (chosen on the validation set when the version was trained), or, for
 *  a manifest without it, min(0.5, 2 / classes): less likely than not, or (many classes) less
 *  than twice a uniform guess. The same floor as the platform's rule (assets/vision/metrics.py). */
export function unsureBelow(manifest) {
  return manifest.unsure_below ?? Math.min(0.5, 2 / manifest.labels.length);
}

/** The labels as a sentence's list, at most ``max`` of them named ("a, b and 3 more"). */
export function labelList(labels, max = 12) {
  const named = labels.slice(0, max).join(", ");
  return labels.length > max ? `${named} and ${labels.length - max} more` : named;
}

/** The model's square input size from a manifest variant's input spec ([batch, 3, H, W]). */
export function inputSize(variant) {
  const { shape, dtype } = variant.input;
  if (dtype !== "float32" || shape.length !== 4 || shape[1] !== 3 || shape[2] !== shape[3]) {
    throw new Error(`unsupported model input ${JSON.stringify(variant.input)}: expected float32 [N, 3, S, S]`);
  }
  return shape[2];
}

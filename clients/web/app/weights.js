// Compact weights (edgeline.weights/1, encoding fp16; assets/conversion/compact.py writes them
// and documents the format): the fp32 model with its weights stored as fp16 for the wire. The
// worker expands them back into the fp32 model, byte for byte the file the platform gated, so
// that wasm runs fp32 at fp32's speed from half the download.

const MAGIC = "EDLWTS1\n";
const FORMAT = "edgeline.weights/1";
export const ENCODINGS = ["fp16"]; // what this page expands

export class CompactWeightsError extends Error {
  name = "CompactWeightsError";
}

// every fp16 bit pattern as fp32 (exact: fp16's values are all fp32 values)
let fp16Table = null;
function halfToFloat() {
  if (fp16Table) return fp16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h += 1) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    let mantissa = h & 0x3ff;
    if (exponent === 0x1f) bits[h] = sign | 0x7f800000 | (mantissa << 13);
    else if (exponent !== 0) bits[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa === 0) bits[h] = sign;
    else {
      let e = 113; // a subnormal: normalise it
      while ((mantissa & 0x400) === 0) {
        mantissa <<= 1;
        e -= 1;
      }
      bits[h] = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
    }
  }
  fp16Table = new Float32Array(bits.buffer);
  return fp16Table;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  try {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw new CompactWeightsError(`compact weights are damaged: ${error.message || error}`);
  }
}

/** The fp32 model (an ArrayBuffer) that the compact weights in ``buffer`` encode. */
export async function expandWeights(buffer) {
  const head = new TextDecoder().decode(new Uint8Array(buffer, 0, Math.min(MAGIC.length, buffer.byteLength)));
  if (head !== MAGIC) throw new CompactWeightsError("not compact weights: the file does not start with the format's mark");
  const payload = await inflate(new Uint8Array(buffer, MAGIC.length));
  const headerLength = new DataView(payload.buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + headerLength)));
  if (header.format !== FORMAT || !ENCODINGS.includes(header.encoding)) {
    throw new CompactWeightsError(`compact weights of format ${header.format}, encoding ${header.encoding}: this page reads ${FORMAT} ${ENCODINGS}`);
  }
  const size = header.model_bytes;
  const total = header.ranges.reduce((sum, [, count]) => sum + count, 0);
  let cursor = 4 + headerLength;
  const weightsStart = cursor + size - 4 * total;
  if (payload.byteLength !== weightsStart + 2 * total) throw new CompactWeightsError("compact weights are damaged: the payload has the wrong length");
  const high = payload.subarray(weightsStart, weightsStart + total);
  const low = payload.subarray(weightsStart + total, weightsStart + 2 * total);
  const table = halfToFloat();
  const out = new Uint8Array(size);
  let position = 0;
  let taken = 0;
  for (const [offset, count] of header.ranges) {
    out.set(payload.subarray(cursor, cursor + offset - position), position);
    cursor += offset - position;
    const values = new Float32Array(count); // little-endian, as ONNX stores raw data, on every platform browsers run on
    for (let i = 0; i < count; i += 1) values[i] = table[(high[taken + i] << 8) | low[taken + i]];
    out.set(new Uint8Array(values.buffer), offset); // the offset need not be 4-aligned: copied as bytes
    taken += count;
    position = offset + 4 * count;
  }
  out.set(payload.subarray(cursor, cursor + size - position), position);
  return out.buffer;
}

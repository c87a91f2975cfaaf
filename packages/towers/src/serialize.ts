// Binary model format for the registry (Redis):
//   "RFTT" | u32 format version | u32 header bytes | header JSON (padded to 4 bytes)
//   | float32 itemFeatures | float32 tensors in WEIGHT_NAMES order | u32 CRC-32 of all before.
// Little-endian. The header holds config, itemIds, featureWidth and each tensor's length, and
// is checked against the shapes the config implies, so a truncated or foreign blob is refused.
import { crc32 } from "node:zlib";
import { resolveConfig, type TwoTowerConfig } from "./config.js";
import { ModelFormatError } from "./errors.js";
import { WEIGHT_NAMES, weightShapes, type TowerWeights, type TwoTowerModel } from "./model.js";

const MAGIC = [0x52, 0x46, 0x54, 0x54]; // "RFTT"
const FORMAT_VERSION = 1;

interface Header {
  config: TwoTowerConfig;
  itemIds: string[];
  featureWidth: number;
  lengths: Record<string, number>;
}

export function serializeModel(model: TwoTowerModel): Uint8Array {
  const lengths: Record<string, number> = { itemFeatures: model.itemFeatures.length };
  for (const name of WEIGHT_NAMES) lengths[name] = model.weights[name].length;
  const header: Header = { config: model.config, itemIds: model.itemIds, featureWidth: model.featureWidth, lengths };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const headerPadded = Math.ceil(headerBytes.length / 4) * 4;
  const floats = Object.values(lengths).reduce((a, b) => a + b, 0);
  const total = 12 + headerPadded + floats * 4 + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  let offset = 12 + headerPadded;
  for (const tensor of [model.itemFeatures, ...WEIGHT_NAMES.map((n) => model.weights[n])]) {
    for (let i = 0; i < tensor.length; i++) view.setFloat32(offset + i * 4, tensor[i]!, true);
    offset += tensor.length * 4;
  }
  view.setUint32(offset, crc32(out.subarray(0, offset)), true);
  return out;
}

/** Parse bytes written by serializeModel; throws ModelFormatError when they are not intact. */
export function deserializeModel(bytes: Uint8Array): TwoTowerModel {
  if (bytes.length < 16) throw new ModelFormatError(`model blob is ${bytes.length} bytes, too short to be a model`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModelFormatError(
      "model blob does not start with RFTT: not a recfleet two-tower model (wrong registry key?)",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) {
    throw new ModelFormatError(
      `model format version ${version} is not supported (this code reads ${FORMAT_VERSION}); retrain or upgrade`,
    );
  }
  const end = bytes.length - 4;
  const expectedCrc = view.getUint32(end, true);
  if (crc32(bytes.subarray(0, end)) !== expectedCrc) {
    throw new ModelFormatError("model blob checksum mismatch: the bytes were truncated or corrupted in storage");
  }
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > end) throw new ModelFormatError(`header length ${headerLength} exceeds the blob`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Header;
  } catch (cause) {
    throw new ModelFormatError("model header is not valid JSON", { cause });
  }
  let config: TwoTowerConfig;
  try {
    config = resolveConfig(header.config);
  } catch (cause) {
    throw new ModelFormatError("model header holds an invalid config", { cause });
  }
  if (!Array.isArray(header.itemIds) || !Number.isInteger(header.featureWidth) || header.featureWidth < 0) {
    throw new ModelFormatError("model header lacks itemIds or featureWidth");
  }
  const numItems = header.itemIds.length;
  const shapes = weightShapes(config, numItems, header.featureWidth);
  const expected: Record<string, number> = { itemFeatures: numItems * header.featureWidth };
  for (const name of WEIGHT_NAMES) expected[name] = shapes[name].reduce((a, b) => a * b, 1);
  let offset = 12 + Math.ceil(headerLength / 4) * 4;
  const read = (name: string): Float32Array => {
    const length = expected[name]!;
    if (header.lengths?.[name] !== length) {
      throw new ModelFormatError(
        `tensor ${name} has ${String(header.lengths?.[name])} values, config implies ${length}`,
      );
    }
    if (offset + length * 4 > end) throw new ModelFormatError(`tensor ${name} runs past the end of the blob`);
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = view.getFloat32(offset + i * 4, true);
    offset += length * 4;
    return out;
  };
  const itemFeatures = read("itemFeatures");
  const weights = {} as Record<keyof TowerWeights, Float32Array>;
  for (const name of WEIGHT_NAMES) weights[name] = read(name);
  if (offset !== end) throw new ModelFormatError(`blob has ${end - offset} unexpected trailing bytes`);
  return { config, itemIds: header.itemIds, featureWidth: header.featureWidth, itemFeatures, weights };
}

// A small builder over onnx-proto's generated classes: named inputs, outputs and
// initializers, nodes with typed attributes, encoded as an onnx.ModelProto.
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** Opset of the default ONNX domain every graph here is written against. */
export const OPSET = 17;
/** ONNX IR version matching opset 17 (onnx 1.12+). */
const IR_VERSION = 8;

export type ElemType = "float" | "int64" | "int8";
export type Dim = number | string;
export type AttrValue = number | number[] | string | { float: number };

const ELEM: Record<ElemType, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int8: onnx.TensorProto.DataType.INT8,
};

/** An ONNX element type's number (e.g. Cast's `to`). */
export const elemTypeOf = (elem: ElemType): number => ELEM[elem];

function valueInfo(name: string, elem: ElemType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: use { float } for non-integers`);
    return { name, type: T.INT, i: value };
  }
  return { name, type: T.FLOAT, f: value.float };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  output(name: string, elem: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elem, dims));
  }

  /** A constant tensor stored in the file (raw little-endian bytes). */
  initializer(name: string, data: Float32Array | BigInt64Array, dims: number[]): string {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({
      name,
      dims,
      dataType: data instanceof Float32Array ? ELEM.float : ELEM.int64,
      rawData: bytes,
    });
    return name;
  }

  constFloat(value: number): string {
    return this.initializer(`const_${this.counter++}`, Float32Array.of(value), []);
  }

  constInts(values: number[]): string {
    return this.initializer(`const_${this.counter++}`, BigInt64Array.from(values.map(BigInt)), [values.length]);
  }

  /** Add a node; returns its (single) output name, generated unless given. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.counter++}`;
    this.nodes.push({
      opType,
      input: inputs,
      output: [out],
      name: `${opType}_${this.counter++}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Add a node with several outputs (e.g. TopK). */
  node2(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): void {
    this.nodes.push({
      opType,
      input: inputs,
      output: outputs,
      name: `${opType}_${this.counter++}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
  }

  encode(metadata: Record<string, string> = {}, docString = ""): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: "", version: OPSET }],
      producerName: "recfleet-towers",
      producerVersion: "0.1.0",
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

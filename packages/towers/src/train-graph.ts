// The training step as one ONNX graph: both towers' forward pass, the in-batch softmax loss
// and the hand-derived backward pass, so the dense work (GEMMs, softmax) runs in
// onnxruntime's MLAS kernels. The sparse parts (gathering history/item embeddings, scattering
// their gradients, Adam) stay in TypeScript where they are cheap.
//
// Inputs : pooled [B,d] (weighted mean of history embeddings), item_input [B,d+F]
//          (item embedding ‖ content features), logit_bias [B,B] (−log q(target_j) on every
//          row, −1e9 where column j repeats row i's target off the diagonal), and the eight
//          MLP tensors (user_w1 … item_b2).
// Outputs: loss ([1], mean cross-entropy), grad_<tensor> for the eight MLP tensors,
//          grad_pooled [B,d], grad_item_input [B,d+F].
import type { TwoTowerConfig } from "./config.js";
import { NORM_EPS } from "./model.js";
import { GraphBuilder } from "./onnx-graph.js";

export const MLP_TENSORS = [
  ["userW1", "user_w1"],
  ["userB1", "user_b1"],
  ["userW2", "user_w2"],
  ["userB2", "user_b2"],
  ["itemW1", "item_w1"],
  ["itemB1", "item_b1"],
  ["itemW2", "item_w2"],
  ["itemB2", "item_b2"],
] as const;

interface TowerForward {
  hiddenAct: string; // relu(x·W1 + b1)
  z: string; // pre-normalisation output
  norm: string; // max(‖z‖, eps) [B,1]
  out: string; // z / norm
}

function towerForward(g: GraphBuilder, x: string, w1: string, b1: string, w2: string, b2: string): TowerForward {
  const hiddenAct = g.op("Relu", [g.op("Gemm", [x, w1, b1])]);
  const z = g.op("Gemm", [hiddenAct, w2, b2]);
  const norm = g.op("Max", [
    g.op("Sqrt", [g.op("ReduceSumSquare", [z], { axes: [1], keepdims: 1 })]),
    g.constFloat(NORM_EPS),
  ]);
  return { hiddenAct, z, norm, out: g.op("Div", [z, norm]) };
}

/** Backward through normalise → Linear → ReLU → Linear; returns the input gradient name. */
function towerBackward(
  g: GraphBuilder,
  f: TowerForward,
  x: string,
  w1: string,
  w2: string,
  gradOut: string,
  names: { w1: string; b1: string; w2: string; b2: string },
): string {
  // u = z/n ⇒ dz = (du − u·⟨du, u⟩) / n
  const dot = g.op("ReduceSum", [g.op("Mul", [gradOut, f.out]), g.constInts([1])], { keepdims: 1 });
  const dz = g.op("Div", [g.op("Sub", [gradOut, g.op("Mul", [f.out, dot])]), f.norm]);
  g.op("Gemm", [f.hiddenAct, dz], { transA: 1 }, `grad_${names.w2}`);
  g.op("ReduceSum", [dz, g.constInts([0])], { keepdims: 0 }, `grad_${names.b2}`);
  const dAct = g.op("Gemm", [dz, w2], { transB: 1 });
  // ReLU gradient: the activation is > 0 exactly where the pre-activation was.
  const dPre = g.op("Mul", [dAct, g.op("Sign", [f.hiddenAct])]);
  g.op("Gemm", [x, dPre], { transA: 1 }, `grad_${names.w1}`);
  g.op("ReduceSum", [dPre, g.constInts([0])], { keepdims: 0 }, `grad_${names.b1}`);
  return g.op("Gemm", [dPre, w1], { transB: 1 });
}

export function buildTrainingGraph(config: TwoTowerConfig, featureWidth: number): Uint8Array {
  const { dim: d, hidden: h } = config;
  const invTau = 1 / config.temperature;
  const g = new GraphBuilder("two_tower_train_step");
  const pooled = g.input("pooled", "float", ["B", d]);
  const itemInput = g.input("item_input", "float", ["B", d + featureWidth]);
  const bias = g.input("logit_bias", "float", ["B", "B"]);
  const shapes: Record<string, number[]> = {
    user_w1: [d, h],
    user_b1: [h],
    user_w2: [h, d],
    user_b2: [d],
    item_w1: [d + featureWidth, h],
    item_b1: [h],
    item_w2: [h, d],
    item_b2: [d],
  };
  for (const [, onnxName] of MLP_TENSORS) g.input(onnxName, "float", shapes[onnxName]!);

  const user = towerForward(g, pooled, "user_w1", "user_b1", "user_w2", "user_b2");
  const item = towerForward(g, itemInput, "item_w1", "item_b1", "item_w2", "item_b2");

  // logits[i,j] = ⟨u_i, v_j⟩/τ + bias[i,j]; the positive of row i is column i.
  const logits = g.op("Gemm", [user.out, item.out, bias], { transB: 1, alpha: { float: invTau } });
  const logProb = g.op("LogSoftmax", [logits], { axis: 1 });
  const eye = g.op("EyeLike", [logits]);
  const batch = g.op("Cast", [g.op("Gather", [g.op("Shape", [logits]), g.constInts([0])], { axis: 0 })], { to: 1 });
  const positiveLogProb = g.op("ReduceSum", [g.op("Mul", [logProb, eye])], { keepdims: 0 });
  g.op("Neg", [g.op("Div", [positiveLogProb, batch])], {}, "loss");

  // dLoss/dlogits = (softmax − I) / B
  const dLogits = g.op("Div", [g.op("Sub", [g.op("Exp", [logProb]), eye]), batch]);
  const dUser = g.op("Gemm", [dLogits, item.out], { alpha: { float: invTau } });
  const dItem = g.op("Gemm", [dLogits, user.out], { transA: 1, alpha: { float: invTau } });

  const dPooled = towerBackward(g, user, pooled, "user_w1", "user_w2", dUser, {
    w1: "user_w1",
    b1: "user_b1",
    w2: "user_w2",
    b2: "user_b2",
  });
  g.op("Identity", [dPooled], {}, "grad_pooled");
  const dItemInput = towerBackward(g, item, itemInput, "item_w1", "item_w2", dItem, {
    w1: "item_w1",
    b1: "item_b1",
    w2: "item_w2",
    b2: "item_b2",
  });
  g.op("Identity", [dItemInput], {}, "grad_item_input");

  g.output("loss", "float", [1]);
  for (const [, onnxName] of MLP_TENSORS) g.output(`grad_${onnxName}`, "float", shapes[onnxName]!);
  g.output("grad_pooled", "float", ["B", d]);
  g.output("grad_item_input", "float", ["B", d + featureWidth]);
  return g.encode({ purpose: "training step (forward + backward)" });
}

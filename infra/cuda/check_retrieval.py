"""CPU vs CUDA parity and latency of recfleet's retrieval graph (user vectors × item matrix → TopK).

Self-contained: needs Python 3, numpy and onnxruntime-gpu (or onnxruntime) on the GPU machine,
and the graph file next to this script (exported by `exportTopKOnnx(64)` from packages/towers).
Usage: python3 check_retrieval.py [--items 100000] [--batch 1,64] [--k 100]
"""
import argparse, json, os, sys, time

import numpy as np
import onnxruntime as ort

p = argparse.ArgumentParser()
p.add_argument("--items", default="1682,100000,1000000")
p.add_argument("--batch", default="1,64")
p.add_argument("--k", type=int, default=100)
p.add_argument("--iters", type=int, default=200)
args = p.parse_args()
graph = os.path.join(os.path.dirname(os.path.abspath(__file__)), "retrieval_topk_d64.onnx")
print("onnxruntime", ort.__version__, "available providers:", ort.get_available_providers(), flush=True)
sessions = {"cpu": ort.InferenceSession(graph, providers=["CPUExecutionProvider"])}
if "CUDAExecutionProvider" in ort.get_available_providers():
    s = ort.InferenceSession(graph, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if s.get_providers()[0] == "CUDAExecutionProvider":
        sessions["cuda"] = s
if "cuda" not in sessions:
    print(json.dumps({"bench": "CUDA-CHECK", "cuda": False, "reason": "CUDAExecutionProvider not available in this onnxruntime"}))
    sys.exit(0)
rng = np.random.default_rng(1)
results = []
for n in [int(x) for x in args.items.split(",")]:
    items = rng.standard_normal((n, 64), dtype=np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    for b in [int(x) for x in args.batch.split(",")]:
        users = rng.standard_normal((b, 64), dtype=np.float32)
        users /= np.linalg.norm(users, axis=1, keepdims=True)
        k = np.array([min(args.k, n)], dtype=np.int64)
        feeds = {"user_vector": users, "item_matrix": items, "k": k}
        out = {}
        row = {"items": n, "batch": b}
        for name, sess in sessions.items():
            if name == "cuda":
                # Keep the item matrix on the device across runs, as a serving process would.
                io = sess.io_binding()
                items_dev = ort.OrtValue.ortvalue_from_numpy(items, "cuda", 0)
                io.bind_ortvalue_input("item_matrix", items_dev)
                io.bind_cpu_input("user_vector", users)
                io.bind_cpu_input("k", k)
                io.bind_output("scores")
                io.bind_output("indices")
                run = lambda: (sess.run_with_iobinding(io), io.copy_outputs_to_cpu())[1]
            else:
                run = lambda: sess.run(None, feeds)
            for _ in range(5):
                run()
            times = []
            iters = args.iters if n < 1_000_000 or name == "cuda" else max(10, args.iters // 10)
            for _ in range(iters):
                t = time.perf_counter(); res = run(); times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[name] = res
            row[f"{name}_p50_ms"] = round(times[len(times) // 2], 4)
            row[f"{name}_p99_ms"] = round(times[min(len(times) - 1, int(0.99 * len(times)))], 4)
        row["max_abs_score_diff"] = float(np.max(np.abs(out["cpu"][0] - out["cuda"][0])))
        row["same_top_items"] = float(np.mean(np.sort(out["cpu"][1], axis=1) == np.sort(out["cuda"][1], axis=1)))
        row["speedup_p50"] = round(row["cpu_p50_ms"] / row["cuda_p50_ms"], 2)
        print(json.dumps(row), flush=True)
        results.append(row)
print(json.dumps({"bench": "CUDA-CHECK", "cuda": True, "device_rows": results}))

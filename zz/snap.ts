// scratch: heap snapshot of a running worker through its inspector (not committed)
import { createWriteStream } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
const pid = Number(process.argv[2]);
const out = process.argv[3]!;
process.kill(pid, "SIGUSR1");
let target: string | undefined;
for (let i = 0; i < 100 && !target; i++) {
  try { target = ((await (await fetch("http://127.0.0.1:9229/json/list")).json()) as any[])[0]?.webSocketDebuggerUrl; } catch {}
  if (!target) await sleep(100);
}
const ws = new WebSocket(target!);
await new Promise((r) => ws.once("open", r));
const file = createWriteStream(out);
const pending = new Map<number, (v: any) => void>();
ws.on("message", (d) => {
  const m = JSON.parse(String(d));
  if (m.method === "HeapProfiler.addHeapSnapshotChunk") file.write(m.params.chunk);
  if (m.id !== undefined) pending.get(m.id)?.(m.result);
});
const call = (id: number, method: string, params: object = {}) => new Promise<any>((r) => { pending.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
console.log(JSON.stringify(await call(1, "Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true })));
if (out !== "-") await call(2, "HeapProfiler.takeHeapSnapshot", { reportProgress: false });
file.end();
ws.send(JSON.stringify({ id: 3, method: "Runtime.evaluate", params: { expression: "process._debugEnd()" } }));
await sleep(500);
ws.terminate();

// Preloaded into a bench's worker child (bench/lib.ts profileEnv) to write a V8 CPU profile when
// it exits: Node 20 refuses --cpu-prof in NODE_OPTIONS, and the fleet starts workers itself.
// The in-thread inspector session answers synchronously, so the profile is written in 'exit'.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "node:inspector";

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 500 });
  session.post("Profiler.start");
  process.once("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (!err) writeFileSync(join(dir, `worker.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

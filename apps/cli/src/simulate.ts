/**
 * `recfleet simulate`: the closed-loop simulator against an already running fleet (see
 * `recfleet demo` for one that starts everything). Policies run side by side, split by user;
 * the fleet's scorer must allow each --policy (SCORER_ALLOWED_POLICIES).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { createLogger } from "@recfleet/runtime";
import { createModelRegistry } from "@recfleet/store";
import { readStackState, REPO_ROOT } from "@recfleet/stack";
import { waitFor } from "@recfleet/testkit";
import { runFleetSimulation } from "@recfleet/simulator";

export async function runSimulateCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      namespace: { type: "string", default: env.RECFLEET_NAMESPACE ?? "recfleet" },
      policy: { type: "string", multiple: true, default: ["greedy", "thompson:16,lift=1"] },
      steps: { type: "string", default: "200" },
      requests: { type: "string", default: "24" },
      k: { type: "string", default: "5" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: join(REPO_ROOT, "out", "simulate") },
    },
  });
  const stack = readStackState();
  const brokers = (env.KAFKA_BROKERS ?? stack?.brokers)?.split(",");
  const redisUrl = env.REDIS_URL ?? stack?.redisUrl;
  if (!brokers || !redisUrl) {
    console.error(
      "no fleet to simulate against: set KAFKA_BROKERS and REDIS_URL (and RECFLEET_NAMESPACE), or run `recfleet stack up` and start the workers; `recfleet demo` does all of it",
    );
    return 2;
  }
  const redis = new Redis(redisUrl);
  try {
    const registry = createModelRegistry(redis, values.namespace!);
    const report = await runFleetSimulation({
      brokers,
      namespace: values.namespace!,
      logger: createLogger("simulate", { level: "warn" }),
      seed: Number(values.seed),
      steps: Number(values.steps),
      requestsPerStep: Number(values.requests),
      k: Number(values.k),
      split: values.policy!.map((policy) => ({ policy, weight: 1 })),
      warmupEventsPerUser: 12,
      organicEventsPerNewItem: 3,
      answerTimeoutMs: 15_000,
      waitForModel: () =>
        waitFor(
          "a model to be served (is the trainer running?)",
          async () => (await registry.currentVersion()) ?? false,
          600_000,
          500,
        ),
      outDir: values.out!,
      onProgress: (line) => console.log(line),
      progressEvery: 20,
    });
    if (report.unanswered > 0) {
      console.error(
        "unanswered requests: does the scorer allow every --policy (POLICY_SPLIT or SCORER_ALLOWED_POLICIES)?",
      );
      console.error(`refused requests are in ${values.namespace}.rec.requests.dlq`);
    }
    for (const p of report.policies)
      console.log(
        `${p.policy.padEnd(30)} requests ${p.answered}  clicks ${p.clicks}  CTR ${p.ctr.toFixed(4)}  regret ${p.regret.toFixed(1)}  coverage ${p.coverage.toFixed(3)}  gini ${p.exposureGini.toFixed(3)}  provider exposure gap ${p.providerFairness.gap.toFixed(3)}`,
      );
    console.log(`plot: ${report.plotPath}\ncsv:  ${report.csvPath}`);
    console.log(
      JSON.stringify({
        bench: "BANDIT-SIM",
        fleet: true,
        seed: Number(values.seed),
        steps: report.steps,
        unanswered: report.unanswered,
        policies: report.policies,
      }),
    );
    return report.unanswered === 0 ? 0 : 1;
  } finally {
    redis.disconnect();
  }
}

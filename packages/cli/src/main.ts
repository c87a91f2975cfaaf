/**
 * `npx recfleet <command>`: one entry point for operators. Each command lives in the package
 * that owns it; this file only dispatches.
 */
import { stackUp, stackDown, readStackState, stackDir } from "@recfleet/stack";
import { runSetupCli } from "./setup";
import { runDoctorCli } from "./doctor";
import { runDemo } from "./demo";
import { runOpeCli } from "./ope";
import { runSimulateCli } from "./simulate";
import { runEvalCli } from "@recfleet/evaluation";
import { runTrainCli, runModelCli } from "@recfleet/trainer";
import { runEraseUserCli } from "@recfleet/features";

type Command = { summary: string; run(args: string[]): Promise<number> };

const commands: Record<string, Command> = {
  setup: {
    summary: "fetch Apache Kafka's jars into the cache (done on first use anyway); --cuda: install the CUDA provider (GPU opt-in) [--cuda-from DIR offline]",
    run: runSetupCli,
  },
  doctor: {
    summary: "check this machine: Node, Java, Maven, redis-server, the Kafka jar cache, onnxruntime's providers, ports",
    run: runDoctorCli,
  },
  demo: {
    summary: "the main job: local stack + whole fleet + closed-loop simulator (greedy vs an exploring policy) [--steps N --requests N --seed N --policy SPEC --out DIR]",
    run: runDemo,
  },
  eval: {
    summary: "train and evaluate MostPop, ItemKNN and the two-tower on MovieLens (ML100K-CHRONO) [--dataset ml-100k --path DIR --seeds 1,2,3 --json]",
    run: (args) => runEvalCli(args),
  },
  train: {
    summary: "enqueue a training run on the fleet's trainers [--wait] [--timeout 10m] (env: REDIS_URL, RECFLEET_NAMESPACE)",
    run: (args) => runTrainCli(args),
  },
  model: {
    summary: "model list | rollback | gc [--grace 1h] — the model registry",
    run: (args) => runModelCli(args),
  },
  "erase-user": {
    summary: "erase-user --user <raw id> — delete every key derived from a user (needs RECFLEET_PSEUDONYM_SECRET)",
    run: (args) => runEraseUserCli(args),
  },
  simulate: {
    summary: "closed-loop simulator against a running fleet [--namespace NS --policy SPEC (repeat) --steps N --requests N --seed N --out DIR]",
    run: (args) => runSimulateCli(args),
  },
  ope: {
    summary: "off-policy evaluation: ope --logged <policy> --target <policy> [--namespace NS] [--from export.jsonl] — IPS, SNIPS, DR with CIs",
    run: (args) => runOpeCli(args),
  },
  stack: {
    summary: "stack up|down|status — the local Kafka broker and redis-server",
    async run(args) {
      const [sub] = args;
      if (sub === "up") {
        const s = await stackUp();
        console.log(`KAFKA_BROKERS=${s.brokers}\nREDIS_URL=${s.redisUrl}`);
        return 0;
      }
      if (sub === "down") {
        await stackDown();
        return 0;
      }
      if (sub === "status") {
        const s = readStackState();
        if (!s) {
          console.log(`no local stack running (state dir ${stackDir()})`);
          return 1;
        }
        console.log(JSON.stringify(s, null, 2));
        return 0;
      }
      console.error("usage: recfleet stack up|down|status");
      return 2;
    },
  },
};

export function registerCommand(name: string, command: Command): void {
  commands[name] = command;
}

function usage(): string {
  return ["usage: recfleet <command> [options]", "", ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

/**
 * `npx recfleet <command>`: one entry point for operators. Each command lives in the package
 * that owns it and is exported as data; this file only assembles the table and dispatches.
 */
import type { CliCommand } from "@recfleet/runtime";
import { evaluationCommands } from "@recfleet/evaluation";
import { trainerCommands } from "@recfleet/trainer";
import { featuresCommands } from "@recfleet/features";
import { gatewayCommands } from "@recfleet/gateway";
import { runSetupCli } from "./setup";
import { runDoctorCli } from "./doctor";
import { runDemo } from "./demo";
import { runOpeCli } from "./ope";
import { runPolicyCli } from "./shadow";
import { runSimulateCli } from "./simulate";
import { runStackCli } from "./stack";

const appCommands: CliCommand[] = [
  {
    name: "setup",
    summary:
      "fetch Apache Kafka's jars into the cache (done on first use anyway); " +
      "--cuda: install the CUDA provider (GPU opt-in) [--cuda-from DIR offline]",
    run: runSetupCli,
  },
  {
    name: "doctor",
    summary: "check this machine: Node, Java, Maven, redis-server, the Kafka jar cache, onnxruntime's providers, ports",
    run: runDoctorCli,
  },
  {
    name: "demo",
    summary:
      "the main job: local stack + whole fleet + closed-loop simulator (greedy vs an exploring policy) " +
      "[--steps N --requests N --seed N --policy SPEC --out DIR]; " +
      "--scale EVENTS: catalog-scale run instead (synthetic clickstream at full speed, one training run, timed requests) " +
      "[--users N --items N --seed N --requests N]",
    run: runDemo,
  },
  {
    name: "simulate",
    summary:
      "closed-loop simulator against a running fleet " +
      "[--namespace NS --policy SPEC (repeat) --steps N --requests N --seed N --out DIR]",
    run: (args) => runSimulateCli(args),
  },
  {
    name: "ope",
    summary:
      "off-policy evaluation: ope --logged <policy> --target <policy> [--namespace NS] [--from export.jsonl] " +
      "— IPS, SNIPS, DR with CIs; ope --shadow: every shadow policy's IPS and DR estimates (anytime-valid) beside the serving CTR",
    run: (args) => runOpeCli(args),
  },
  {
    name: "policy",
    summary:
      "policy promote --candidate SPEC: switch traffic to a shadow policy only when its anytime-valid DR lower bound " +
      "beats the serving CTR; policy serving [--reset]",
    run: (args) => runPolicyCli(args),
  },
  {
    name: "stack",
    summary: "stack up|down|restart kafka|redis|status — the local Kafka broker and redis-server",
    run: runStackCli,
  },
];

/** The command table; a name exported twice is an error rather than one command silently hiding the other. */
export function commandTable(lists: readonly (readonly CliCommand[])[]): Map<string, CliCommand> {
  const table = new Map<string, CliCommand>();
  for (const command of lists.flat()) {
    if (table.has(command.name)) throw new Error(`two recfleet commands are named ${JSON.stringify(command.name)}`);
    table.set(command.name, command);
  }
  return table;
}

const commands = commandTable([appCommands, evaluationCommands, trainerCommands, featuresCommands, gatewayCommands]);

function usage(): string {
  const lines = [...commands.values()].map((c) => `  ${c.name.padEnd(12)} ${c.summary}`);
  return ["usage: recfleet <command> [options]", "", ...lines].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands.get(name);
  if (!command) {
    console.error(`unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

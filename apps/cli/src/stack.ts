/** `npx recfleet stack up|down|restart|status`: the local Kafka broker and redis-server, detached. */
import { stackUp, stackDown, stackRestart, readStackState, stackDir } from "@recfleet/stack";

export async function runStackCli(args: string[]): Promise<number> {
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
  if (sub === "restart") {
    const component = args[1];
    if (component !== "kafka" && component !== "redis") {
      console.error("usage: recfleet stack restart kafka|redis");
      return 2;
    }
    await stackRestart(component);
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
  console.error("usage: recfleet stack up|down|restart kafka|redis|status");
  return 2;
}

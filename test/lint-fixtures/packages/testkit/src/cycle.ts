// bus's tests use testkit, so testkit importing bus closes a cycle (and is undeclared).
import { createKafka } from "@recfleet/bus";

export const kafka = createKafka;

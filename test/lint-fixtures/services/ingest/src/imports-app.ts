// A service importing the app.
import { main } from "@recfleet/cli";

export const run = main;

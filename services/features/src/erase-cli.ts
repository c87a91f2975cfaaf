/** Entry point: `node --import tsx services/features/src/erase-cli.ts --user <raw id>`. */
import { runEraseUserCli } from "./erase";

process.exit(await runEraseUserCli(process.argv.slice(2)));

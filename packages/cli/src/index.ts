export { main, registerCommand } from "./main";

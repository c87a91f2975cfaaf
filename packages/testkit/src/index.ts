export { uniqueName, testInfra, waitFor, type TestInfra } from "./testing";

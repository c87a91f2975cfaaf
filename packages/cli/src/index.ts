export { main, registerCommand } from "./main";
export { startWorker, waitReady, scrapeMetric, stopWorkers, type RunningWorker, type WorkerName } from "./fleet";

export { runFleetSimulation, percentile, type FleetSimulationOptions, type FleetSimulationReport, type PolicyReport } from "./fleet-sim";

export {
  liftWithInterval,
  runFleetSimulation,
  type FleetSimulationOptions,
  type FleetSimulationReport,
  type PolicyReport,
} from "./fleet-sim";

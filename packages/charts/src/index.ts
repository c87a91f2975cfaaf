export {
  lineChart,
  renderSvg,
  niceTicks,
  formatTick,
  PALETTE,
  type Chart,
  type LineChartOptions,
  type Primitive,
  type Series,
} from "./chart";
export { renderPng, encodePng } from "./png";
export { writeChart } from "./files";

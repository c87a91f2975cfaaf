import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderSvg, type Chart } from "./chart";
import { renderPng } from "./png";

/** Writes `<name>.svg` and, beside it, `<name>.png` into `dir`; returns both paths. */
export function writeChart(dir: string, name: string, chart: Chart): { svg: string; png: string } {
  mkdirSync(dir, { recursive: true });
  const svg = join(dir, `${name}.svg`);
  const png = join(dir, `${name}.png`);
  writeFileSync(svg, renderSvg(chart) + "\n");
  writeFileSync(png, renderPng(chart));
  return { svg, png };
}

/**
 * PNG rendering of a chart's primitives, in plain TypeScript: a small rasteriser (coverage
 * anti-aliased lines, scanline-filled polygons, a 5×7 bitmap font drawn at 2×) and a PNG encoder
 * on node:zlib. No browser, native module or network: the main job writes a PNG beside each SVG
 * on any machine.
 */
import { crc32, deflateSync } from "node:zlib";
import type { Chart, Primitive } from "./chart";
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphRows } from "./font";

function parseColour(hex: string): [number, number, number] {
  const h = hex.replace("#", "");
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

class Raster {
  readonly rgb: Uint8ClampedArray;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rgb = new Uint8ClampedArray(width * height * 3).fill(255);
  }
  blend(x: number, y: number, [r, g, b]: [number, number, number], alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    const i = (y * this.width + x) * 3;
    const a = Math.min(1, alpha);
    this.rgb[i] = this.rgb[i]! + (r - this.rgb[i]!) * a;
    this.rgb[i + 1] = this.rgb[i + 1]! + (g - this.rgb[i + 1]!) * a;
    this.rgb[i + 2] = this.rgb[i + 2]! + (b - this.rgb[i + 2]!) * a;
  }
  rect(x: number, y: number, w: number, h: number, colour: [number, number, number]): void {
    for (let py = Math.round(y); py < Math.round(y + h); py++)
      for (let px = Math.round(x); px < Math.round(x + w); px++) this.blend(px, py, colour, 1);
  }
  /** A segment of `width` px: each pixel covered by its distance to the segment (1 px soft edge). */
  segment(x0: number, y0: number, x1: number, y1: number, width: number, colour: [number, number, number]): void {
    const half = width / 2;
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy || 1e-9;
    const minX = Math.floor(Math.min(x0, x1) - half - 1);
    const maxX = Math.ceil(Math.max(x0, x1) + half + 1);
    const minY = Math.floor(Math.min(y0, y1) - half - 1);
    const maxY = Math.ceil(Math.max(y0, y1) + half + 1);
    for (let py = minY; py <= maxY; py++) {
      for (let px = minX; px <= maxX; px++) {
        const cx = px + 0.5;
        const cy = py + 0.5;
        const t = Math.max(0, Math.min(1, ((cx - x0) * dx + (cy - y0) * dy) / len2));
        const d = Math.hypot(cx - (x0 + t * dx), cy - (y0 + t * dy));
        this.blend(px, py, colour, half + 0.5 - d);
      }
    }
  }
  polygon(points: [number, number][], colour: [number, number, number], opacity: number): void {
    const ys = points.map((p) => p[1]);
    for (
      let py = Math.max(0, Math.floor(Math.min(...ys)));
      py <= Math.min(this.height - 1, Math.ceil(Math.max(...ys)));
      py++
    ) {
      const y = py + 0.5;
      const xs: number[] = [];
      for (let i = 0; i < points.length; i++) {
        const [ax, ay] = points[i]!;
        const [bx, by] = points[(i + 1) % points.length]!;
        if ((ay <= y && by > y) || (by <= y && ay > y)) xs.push(ax + ((y - ay) / (by - ay)) * (bx - ax));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2)
        for (let px = Math.round(xs[k]!); px < Math.round(xs[k + 1]!); px++) this.blend(px, py, colour, opacity);
    }
  }
  text(p: Extract<Primitive, { kind: "text" }>): void {
    const scale = p.size >= 10 ? 2 : 1;
    const advance = (GLYPH_WIDTH + 1) * scale;
    const width = p.text.length * advance - scale;
    const offset = p.anchor === "start" ? 0 : p.anchor === "middle" ? -width / 2 : -width;
    const colour = parseColour(p.fill);
    [...p.text].forEach((ch, i) => {
      glyphRows(ch).forEach((bits, row) => {
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (!(bits & (1 << (GLYPH_WIDTH - 1 - col)))) continue;
          for (let sy = 0; sy < scale; sy++) {
            for (let sx = 0; sx < scale; sx++) {
              // Along the text (u) and down from its top (v), relative to the anchor point.
              const u = offset + i * advance + col * scale + sx;
              const v = -GLYPH_HEIGHT * scale + row * scale + sy;
              // Rotated text reads bottom to top (SVG's rotate(-90)).
              const [px, py] = p.rotate ? [p.x + v, p.y - u] : [p.x + u, p.y + v];
              this.blend(Math.round(px), Math.round(py), colour, 1);
            }
          }
        }
      });
    });
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** Encodes 8-bit RGB pixels (row-major) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8ClampedArray): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The chart as a PNG (same primitives as the SVG). */
export function renderPng(chart: Chart): Buffer {
  const r = new Raster(Math.round(chart.width), Math.round(chart.height));
  for (const p of chart.primitives) {
    switch (p.kind) {
      case "rect":
        r.rect(p.x, p.y, p.w, p.h, parseColour(p.fill));
        break;
      case "polyline":
        for (let i = 0; i + 1 < p.points.length; i++) {
          const [a, b] = [p.points[i]!, p.points[i + 1]!];
          r.segment(a[0], a[1], b[0], b[1], p.width, parseColour(p.stroke));
        }
        break;
      case "polygon":
        r.polygon(p.points, parseColour(p.fill), p.opacity);
        break;
      case "text":
        r.text(p);
        break;
    }
  }
  return encodePng(r.width, r.height, r.rgb);
}

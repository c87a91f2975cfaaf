// Loaders for the three MovieLens file layouts. Every loader returns the same Dataset shape:
// users and items are re-indexed to dense rows in ascending numeric id order, so "ties broken
// by the lower item id" (ML100K-CHRONO) is the same as "ties broken by the lower row".
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Dataset {
  name: string;
  /** Original user ids, row order (ascending numeric id). */
  userIds: string[];
  /** Original item ids, row order (ascending numeric id): the catalog. */
  itemIds: string[];
  /** Content features (genre multi-hot), itemIds.length × featureNames.length, row-major. */
  itemFeatures: Float32Array;
  featureNames: string[];
  /** One entry per rating, parallel arrays of user rows, item rows and unix timestamps. */
  interactions: { user: Int32Array; item: Int32Array; timestamp: Float64Array };
}

/** A dataset folder is missing a file or a line does not parse. */
export class DatasetFormatError extends Error {
  override readonly name = "DatasetFormatError";
  /** Read by @recfleet/runtime's shouldRetry (structurally: evaluation does not depend on runtime). */
  readonly retriable = false;
  constructor(
    message: string,
    readonly path: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

interface RawRating {
  user: string;
  item: string;
  timestamp: number;
}

interface RawItem {
  id: string;
  genres: string[];
}

/** The 19 genre flags of u.item, in file order (u.genre). */
const ML100K_GENRES = [
  "unknown",
  "Action",
  "Adventure",
  "Animation",
  "Children's",
  "Comedy",
  "Crime",
  "Documentary",
  "Drama",
  "Fantasy",
  "Film-Noir",
  "Horror",
  "Musical",
  "Mystery",
  "Romance",
  "Sci-Fi",
  "Thriller",
  "War",
  "Western",
];

/**
 * Load a MovieLens folder, detecting its layout: u.data + u.item (100K),
 * ratings.dat + movies.dat (1M/10M), or ratings.csv + movies.csv (latest, 20M, 25M, 32M).
 */
export function loadMovieLens(path: string): Dataset {
  if (existsSync(join(path, "u.data"))) return loadMl100k(path);
  if (existsSync(join(path, "ratings.dat"))) return loadMlDat(path);
  if (existsSync(join(path, "ratings.csv"))) return loadMlCsv(path);
  throw new DatasetFormatError(
    `no MovieLens ratings file in ${path}: expected u.data, ratings.dat or ratings.csv (set --path to the dataset folder)`,
    path,
  );
}

export function loadMl100k(path: string): Dataset {
  const ratingsPath = join(path, "u.data");
  const ratings = parseLines(ratingsPath, (line, n) => {
    const p = line.split("\t");
    if (p.length < 4) throw new DatasetFormatError(`expected 4 tab-separated fields`, ratingsPath, n);
    return { user: p[0]!, item: p[1]!, timestamp: Number(p[3]) };
  });
  const itemsPath = join(path, "u.item");
  const items = parseLines(
    itemsPath,
    (line, n) => {
      const p = line.split("|");
      if (p.length < 24) throw new DatasetFormatError(`expected 24 |-separated fields`, itemsPath, n);
      const genres = ML100K_GENRES.filter((_, g) => p[5 + g] === "1");
      return { id: p[0]!, genres };
    },
    "latin1",
  );
  return buildDataset("ml-100k", ratings, items, ML100K_GENRES);
}

export function loadMlDat(path: string): Dataset {
  const ratingsPath = join(path, "ratings.dat");
  const ratings = parseLines(ratingsPath, (line, n) => {
    const p = line.split("::");
    if (p.length < 4) throw new DatasetFormatError(`expected UserID::MovieID::Rating::Timestamp`, ratingsPath, n);
    return { user: p[0]!, item: p[1]!, timestamp: Number(p[3]) };
  });
  const moviesPath = join(path, "movies.dat");
  const items = existsSync(moviesPath)
    ? parseLines(
        moviesPath,
        (line, n) => {
          const p = line.split("::");
          if (p.length < 3) throw new DatasetFormatError(`expected MovieID::Title::Genres`, moviesPath, n);
          return { id: p[0]!, genres: splitGenres(p[2]!) };
        },
        "latin1",
      )
    : [];
  return buildDataset("movielens-dat", ratings, items);
}

export function loadMlCsv(path: string): Dataset {
  const ratingsPath = join(path, "ratings.csv");
  const ratings = parseLines(ratingsPath, (line, n) => {
    if (n === 1 && line.startsWith("userId")) return undefined;
    const p = line.split(",");
    if (p.length < 4) throw new DatasetFormatError(`expected userId,movieId,rating,timestamp`, ratingsPath, n);
    return { user: p[0]!, item: p[1]!, timestamp: Number(p[3]) };
  });
  const moviesPath = join(path, "movies.csv");
  const items = existsSync(moviesPath)
    ? parseLines(moviesPath, (line, n) => {
        if (n === 1 && line.startsWith("movieId")) return undefined;
        // Titles may be quoted and hold commas; the id is before the first comma and the
        // genres after the last one, so the title never needs parsing.
        const first = line.indexOf(",");
        const last = line.lastIndexOf(",");
        if (first < 0 || last <= first) throw new DatasetFormatError(`expected movieId,title,genres`, moviesPath, n);
        return { id: line.slice(0, first), genres: splitGenres(line.slice(last + 1)) };
      })
    : [];
  return buildDataset("movielens-csv", ratings, items);
}

function splitGenres(field: string): string[] {
  return field
    .trim()
    .split("|")
    .filter((g) => g !== "" && g !== "(no genres listed)");
}

function parseLines<T>(
  path: string,
  parse: (line: string, lineNumber: number) => T | undefined,
  encoding: BufferEncoding = "utf8",
): T[] {
  if (!existsSync(path)) throw new DatasetFormatError(`missing file ${path}`, path);
  const out: T[] = [];
  const lines = readFileSync(path, encoding).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line === "") continue;
    const value = parse(line, i + 1);
    if (value !== undefined) out.push(value);
  }
  return out;
}

function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function buildDataset(name: string, ratings: RawRating[], items: RawItem[], genreOrder?: string[]): Dataset {
  const itemSet = new Set<string>(items.map((i) => i.id));
  const userSet = new Set<string>();
  for (const r of ratings) {
    itemSet.add(r.item);
    userSet.add(r.user);
  }
  const itemIds = [...itemSet].sort(compareIds);
  const userIds = [...userSet].sort(compareIds);
  const itemRow = new Map(itemIds.map((id, row) => [id, row]));
  const userRow = new Map(userIds.map((id, row) => [id, row]));

  const featureNames = genreOrder ?? [...new Set(items.flatMap((i) => i.genres))].sort();
  const featureColumn = new Map(featureNames.map((g, c) => [g, c]));
  const width = featureNames.length;
  const itemFeatures = new Float32Array(itemIds.length * width);
  for (const item of items) {
    const row = itemRow.get(item.id)!;
    for (const g of item.genres) itemFeatures[row * width + featureColumn.get(g)!] = 1;
  }

  const n = ratings.length;
  const interactions = { user: new Int32Array(n), item: new Int32Array(n), timestamp: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const r = ratings[i]!;
    interactions.user[i] = userRow.get(r.user)!;
    interactions.item[i] = itemRow.get(r.item)!;
    interactions.timestamp[i] = r.timestamp;
  }
  return { name, userIds, itemIds, itemFeatures, featureNames, interactions };
}

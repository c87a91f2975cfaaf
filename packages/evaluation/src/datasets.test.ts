import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DatasetFormatError, loadMovieLens, type Dataset } from "./datasets.js";
import { splitChrono, splitValidation } from "./split.js";

const dirs: string[] = [];
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-ml-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, "latin1");
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ratingsOf(ds: Dataset): string[] {
  const { user, item, timestamp } = ds.interactions;
  return Array.from(user, (u, i) => `${ds.userIds[u]}:${ds.itemIds[item[i]!]}@${timestamp[i]}`);
}

describe("MovieLens loaders", () => {
  const genreFlags = (on: number[]): string =>
    Array.from({ length: 19 }, (_, g) => (on.includes(g) ? "1" : "0")).join("|");

  it("reads u.data + u.item (100K) with 19 genre flags, rows in numeric id order", () => {
    const dir = folder({
      "u.data": "10\t2\t5\t100\n2\t10\t3\t50\n2\t2\t4\t60\n",
      "u.item": `2|B (1995)|01-Jan-1995||url|${genreFlags([1, 5])}\n10|J (1995)|01-Jan-1995||url|${genreFlags([0])}\n`,
    });
    const ds = loadMovieLens(dir);
    assert.deepEqual(ds.userIds, ["2", "10"]);
    assert.deepEqual(ds.itemIds, ["2", "10"]);
    assert.equal(ds.featureNames.length, 19);
    assert.deepEqual(Array.from(ds.itemFeatures.subarray(0, 6)), [0, 1, 0, 0, 0, 1]);
    assert.deepEqual(ratingsOf(ds), ["10:2@100", "2:10@50", "2:2@60"]);
  });

  it("reads ratings.dat + movies.dat (1M)", () => {
    const dir = folder({
      "ratings.dat": "1::1193::5::978300760\n1::661::3::978302109\n",
      "movies.dat":
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n1193::One Flew (1975)::Drama\n",
    });
    const ds = loadMovieLens(dir);
    assert.deepEqual(ds.itemIds, ["661", "1193"]);
    assert.deepEqual(ds.featureNames, ["Animation", "Children's", "Drama", "Musical"]);
    assert.deepEqual(Array.from(ds.itemFeatures), [1, 1, 0, 1, 0, 0, 1, 0]);
    assert.deepEqual(ratingsOf(ds), ["1:1193@978300760", "1:661@978302109"]);
  });

  it("reads ratings.csv + movies.csv (latest) with quoted titles holding commas", () => {
    const dir = folder({
      "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n",
      "movies.csv":
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"Grumpier Old Men, The (1995)",Comedy|Romance\n5,Nothing (2000),(no genres listed)\n',
    });
    const ds = loadMovieLens(dir);
    assert.deepEqual(ds.itemIds, ["1", "3", "5"]);
    assert.deepEqual(ds.featureNames, ["Adventure", "Animation", "Comedy", "Romance"]);
    assert.deepEqual(Array.from(ds.itemFeatures.subarray(4, 8)), [0, 0, 1, 1]);
    assert.equal(ds.interactions.user.length, 2);
  });

  it("throws DatasetFormatError for a folder without ratings or with a bad line", () => {
    assert.throws(() => loadMovieLens(folder({})), DatasetFormatError);
    assert.throws(() => loadMovieLens(folder({ "u.data": "1\t2\n", "u.item": "" })), DatasetFormatError);
  });
});

describe("splitChrono", () => {
  it("sorts by (timestamp, item id) and holds out the last round(0.2·n), at least 1", () => {
    const dir = folder({
      // user 1: 6 events, two at t=5 (items 4 and 3 → 3 first); user 2: 1 event; user 3: 3 events.
      "u.data": [
        "1\t1\t5\t1",
        "1\t4\t5\t5",
        "1\t3\t5\t5",
        "1\t2\t5\t9",
        "1\t6\t5\t3",
        "1\t5\t5\t2",
        "2\t1\t5\t7",
        "3\t2\t5\t1",
        "3\t1\t5\t2",
        "3\t3\t5\t3",
      ].join("\n"),
      "u.item": "",
    });
    const ds = loadMovieLens(dir);
    const split = splitChrono(ds);
    const ids = (rows: number[]): string[] => rows.map((r) => ds.itemIds[r]!);
    assert.deepEqual(ids(split.train[0]!), ["1", "5", "6", "3", "4"]);
    assert.deepEqual(ids(split.test[0]!), ["2"]);
    assert.deepEqual(split.train[1], []);
    assert.deepEqual(ids(split.test[1]!), ["1"]);
    assert.deepEqual(ids(split.train[2]!), ["2", "1"]);
    assert.deepEqual(ids(split.test[2]!), ["3"]);
  });
});

describe("splitValidation", () => {
  it("holds out the last 20% of each user's train items (chronological, at least 1) and never touches test", () => {
    const split = {
      train: [[10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [1, 2], [7], []],
      test: [[20, 21], [3], [8], [9]],
      numItems: 30,
    };
    const validation = splitValidation(split);
    assert.deepEqual(validation.train, [[10, 11, 12, 13, 14, 15, 16, 17], [1], [], []]);
    assert.deepEqual(validation.test, [[18, 19], [2], [7], []]);
    assert.equal(validation.numItems, 30);
    assert.ok(!validation.test.flat().some((i) => split.test.flat().includes(i)), "no test item in validation");
    assert.throws(() => splitValidation(split, 1), RangeError);
  });
});

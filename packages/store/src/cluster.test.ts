import { test } from "node:test";
import assert from "node:assert/strict";
import { keySlot, replicasInTopology } from "./cluster";
import { storeKeys } from "./keys";

// CLUSTER NODES of a 3+3 cluster as master a sees it: b's replica failed, c's replica's link is down (still listed).
const NODES = [
  "aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460",
  "bbb 127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922",
  "ccc 127.0.0.1:7002@17002 master - 0 1700000000000 3 connected 10923-16383",
  "ddd 127.0.0.1:7003@17003 slave aaa 0 1700000000000 1 connected",
  "eee 127.0.0.1:7004@17004 slave,fail bbb 1700000000000 1700000000000 2 disconnected",
  "fff 127.0.0.1:7005@17005 slave ccc 0 1700000000000 3 connected",
  "",
].join("\n");

test("replicasInTopology: a master counts its replicas the cluster has not marked failed", () => {
  assert.deepEqual(replicasInTopology(NODES), { master: true, replicas: 1 });
  const asB = NODES.replace("myself,master - 0 0 1", "master - 0 0 1").replace(
    "bbb 127.0.0.1:7001@17001 master",
    "bbb 127.0.0.1:7001@17001 myself,master",
  );
  assert.deepEqual(replicasInTopology(asB), { master: true, replicas: 0 });
  const asReplica = NODES.replace("myself,master - 0 0 1", "master - 0 0 1").replace(
    "ddd 127.0.0.1:7003@17003 slave",
    "ddd 127.0.0.1:7003@17003 myself,slave",
  );
  assert.deepEqual(replicasInTopology(asReplica), { master: false, replicas: 0 });
  // A replica with a suspected (not yet agreed) failure still counts: it may come back behind.
  assert.deepEqual(replicasInTopology(NODES.replace("slave aaa", "slave,fail? aaa")), { master: true, replicas: 1 });
});

test("every key one script call touches shares a slot: a partition's duplicate filter, watermark and popularity", () => {
  const k = storeKeys("ns");
  for (const p of ["0", "7"]) {
    const slot = keySlot(k.applied(p));
    assert.equal(keySlot(k.appliedWatermark(p)), slot);
    assert.equal(keySlot(k.popularity(p)), slot);
  }
  assert.equal(keySlot(k.userState("u1")), keySlot(k.userRefresh("u1")));
});

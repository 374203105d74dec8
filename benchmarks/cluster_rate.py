"""`mempool-fast cluster` at increasing --rate: latency to every node and peak throughput.

Reports, in one run on this machine:
- the Ed25519Validator's rate (tx/s) on fresh transactions, in batches of
  `shared_mempool_batch_size` (what nodes validate) and of 2 000;
- for each --rate: submit, reached-every-node and commit throughput, p50/p99 latency from
  submission to every node, p99 in ticks;
- the highest rate whose p99 stays under 4 ticks, and the peak reached-every-node throughput as a
  ratio to (validator rate / nodes).

    python benchmarks/cluster_rate.py --nodes 4 --rates 500,1000,2000,0
(rate 0 = unpaced).
"""

from __future__ import annotations

import argparse
import io
import json
import time

import nacl.signing

from mempool_fast import MempoolConfig
from mempool_fast.cluster import ClusterOptions, run_cluster, sign_transactions
from mempool_fast.validation import Ed25519Validator

TICK_BUDGET = 4


def validator_rate(batch: int, total: int) -> float:
    """Transactions/s of one Ed25519Validator on `total` never-seen transactions."""
    keys = [nacl.signing.SigningKey(bytes([i % 256, i // 256]) * 16) for i in range(200)]
    txns = sign_transactions(keys, total, max_gas=1_000, gas_price=1,
                             expiration=int(time.time()) + 3600)
    with Ed25519Validator(MempoolConfig()) as validator:
        start = time.perf_counter()
        for i in range(0, total, batch):
            results = validator.validate(txns[i:i + batch])
            assert all(r is None for r in results)
        return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--rates", default="500,1000,1500,2000,2500,0")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="load duration per paced rate (txns = rate x seconds)")
    parser.add_argument("--txns", type=int, default=20_000, help="txns of the unpaced run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    batch = MempoolConfig().shared_mempool_batch_size
    v_small = validator_rate(batch, 8_000)
    v_large = validator_rate(2_000, 8_000)
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        txns = args.txns if rate == 0 else max(1_000, int(rate * args.seconds))
        opts = ClusterOptions(nodes=args.nodes, accounts=args.accounts, txns=txns,
                              rate=rate or None, json=True, seed=1)
        code, s = run_cluster(opts, out=io.StringIO())
        rows.append({"rate": rate, "txns": txns, "exit": code, "submit_tps": s["submit_tps"],
                     "reached_all_tps": s["reached_all_tps"], "commit_tps": s["commit_tps"],
                     "p50_ms": s["latency_ms"]["p50"], "p99_ms": s["latency_ms"]["p99"],
                     "p99_ticks": s["p99_ticks"]})
        print(json.dumps(rows[-1]), flush=True)
    under = [r["rate"] for r in rows if r["rate"] and r["p99_ticks"] is not None
             and r["p99_ticks"] < TICK_BUDGET]
    peak = max(r["reached_all_tps"] for r in rows)
    result = {"nodes": args.nodes, "validator_tps_batch_%d" % batch: v_small,
              "validator_tps_batch_2000": v_large,
              "highest_rate_p99_under_4_ticks": max(under) if under else None,
              "peak_reached_all_tps": peak,
              "ratio_to_validator_per_node": peak / (v_small / args.nodes),
              "ratio_to_validator_per_node_large_batches": peak / (v_large / args.nodes),
              "runs": rows}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"validator: {v_small:.0f} tx/s (batches of {batch}), {v_large:.0f} tx/s "
              f"(batches of 2000)")
        print("| --rate | txns | submit tx/s | reached-all tx/s | p50 ms | p99 ms | p99 ticks |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['rate'] or 'unpaced'} | {r['txns']} | {r['submit_tps']:.0f} | "
                  f"{r['reached_all_tps']:.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                  f"{r['p99_ticks']:.1f} |")
        print(f"highest rate with p99 < {TICK_BUDGET} ticks: "
              f"{result['highest_rate_p99_under_4_ticks']}")
        print(f"peak reached-all: {peak:.0f} tx/s = "
              f"{result['ratio_to_validator_per_node']:.2f} x (validator / nodes) "
              f"[{result['ratio_to_validator_per_node_large_batches']:.2f} with large batches]")


if __name__ == "__main__":
    main()

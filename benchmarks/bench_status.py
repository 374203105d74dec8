"""What the status API costs the submit path: history and one watcher on, against both off.

    python benchmarks/bench_status.py                    # 30 interleaved rounds, a table
    python benchmarks/bench_status.py --rounds 60 --json

Two shared mempools (not started: no threads of their own) with the same validator (verified
cache off, so every signature is checked, as for fresh client transactions) and the same
MempoolConfig but for the status fields:

  off    `status_history_size=0`, no watch open: the status API does nothing
  on     the default history (100,000 entries) and one watch on one account, drained by a
         reader thread, as a client following its own transactions would
  all    (for information, not checked) the history and a watch on everything, drained by a
         reader thread

Each round gives each pool the same work on fresh transactions signed beforehand (never seen
by the validator or the pools): `--batches` client batches of `--batch` transactions, one per
account at the account's next sequence number, through `submit_transactions`, then one
`commit_transactions` of everything submitted (so the history records every transaction and
the watched account's events run: admitted, then committed), timed until the pool's watch
reader has caught up. The pools take turns batch by batch, in an order that rotates. Per round: µs per transaction of the submits, and of submits + commit;
the ratio on ÷ off of the same round; the figure is the median over rounds, so machine drift
hits both sides alike. Exit status 1 if the median cost of `on` (ratio - 1) exceeds `--limit`
(default 5 %) on either measure.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import threading
import time

import nacl.signing

from mempool_fast import IMPLEMENTATION, MempoolConfig, SignedTransaction, account_address
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore
from mempool_fast.validation import Ed25519Validator

PAYLOAD = bytes(100)
EXPIRATION = 4_000_000_000
BALANCE = 10 ** 15
WARMUP = 2
FOREVER_MS = 10 ** 9
ROWS = ("off", "on", "all")


class Pool:
    """One shared mempool, its accounts and (for on/all) its watch and reader thread."""

    def __init__(self, name: str, hub: InProcessNetwork, validator, accounts: int,
                 batches: int) -> None:
        self.name = name
        self.keys = [nacl.signing.SigningKey.generate() for _ in range(accounts)]
        self.addresses = [account_address(bytes(k.verify_key)) for k in self.keys]
        store = InMemoryAccountStore()
        for address in self.addresses:
            store.set_account(address, 0, BALANCE)
        fields = dict(shared_mempool_tick_interval_ms=FOREVER_MS,
                      system_transaction_gc_interval_ms=FOREVER_MS, verified_cache_size=0,
                      capacity_per_user=max(100, 2 * batches))
        if name == "off":
            fields["status_history_size"] = 0
        self.shared = SharedMempool(MempoolConfig(**fields), hub.endpoint(name), store,
                                    validator=validator)
        self.watch = None
        self.events = 0
        if name == "on":
            self.watch = self.shared.watch(accounts=[self.addresses[0]])
        elif name == "all":
            self.watch = self.shared.watch()
        self.reader = None
        if self.watch is not None:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        self.next_seq = 0

    def _read(self) -> None:
        for _ in self.watch:
            self.events += 1

    def sign_round(self, batches: int) -> list[list]:
        """`batches` batches: batch j holds every account's transaction at next_seq + j."""
        out = []
        for j in range(batches):
            seq = self.next_seq + j
            out.append([SignedTransaction.create(k, seq, payload=PAYLOAD, max_gas_amount=1_000,
                                                 gas_unit_price=1, expiration_time=EXPIRATION)
                        for k in self.keys])
        self.next_seq += batches
        return out

    def submit(self, batch: list) -> float:
        """Seconds of one client batch through `submit_transactions`."""
        t0 = time.perf_counter()
        statuses = self.shared.submit_transactions(batch)
        elapsed = time.perf_counter() - t0
        if statuses[-1].code.name != "VALID" or statuses[0].code.name != "VALID":
            raise RuntimeError(f"{self.name}: not VALID: {statuses[0]!r}")
        return elapsed

    def commit(self, last: list) -> float:
        """Seconds of the commit of everything submitted (and of the watch reader catching
        up: its CPU is the watcher's cost too)."""
        t0 = time.perf_counter()
        self.shared.commit_transactions([t.pointer for t in last], time.time())
        if self.watch is not None:
            while self.watch.pending():
                time.sleep(0)  # yield to the reader
        elapsed = time.perf_counter() - t0
        if len(self.shared.mempool):
            raise RuntimeError(f"{self.name}: {len(self.shared.mempool)} left after the commit")
        return elapsed

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.reader.join()
        self.shared.stop()


def run(rounds: int, batches: int, batch: int) -> dict:
    validator = Ed25519Validator(MempoolConfig(verified_cache_size=0))
    hub = InProcessNetwork()
    pools = {name: Pool(name, hub, validator, batch, batches) for name in ROWS}
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in ROWS}
    txns = batches * batch
    try:
        for r in range(WARMUP + rounds):
            work = {name: pool.sign_round(batches) for name, pool in pools.items()}
            gc.collect()
            times = {name: [0.0, 0.0] for name in ROWS}
            for j in range(batches):  # batch by batch, in an order that rotates
                k = r * batches + j
                for name in ROWS[k % 3:] + ROWS[:k % 3]:
                    times[name][0] += pools[name].submit(work[name][j])
            for name in ROWS[r % 3:] + ROWS[:r % 3]:
                times[name][1] = pools[name].commit(work[name][-1])
            if r >= WARMUP:
                for name in ROWS:
                    per_round[name].append(tuple(times[name]))
        events = {name: pools[name].events for name in ROWS}
        lost = {name: pools[name].watch.lost if pools[name].watch else 0 for name in ROWS}
        history = {name: pools[name].shared.inspect()["history"]["size"] for name in ROWS}
    finally:
        for pool in pools.values():
            pool.close()
        validator.close()

    def figure(name: str, measure) -> dict:
        us = [measure(t) / txns * 1e6 for t in per_round[name]]
        ratios = [measure(t) / measure(o) for t, o in zip(per_round[name], per_round["off"])]
        return {"us_per_txn": statistics.median(us), "ratio": statistics.median(ratios),
                "ratio_min": min(ratios), "ratio_max": max(ratios)}

    submit = lambda t: t[0]  # noqa: E731
    both = lambda t: t[0] + t[1]  # noqa: E731
    return {"implementation": IMPLEMENTATION, "rounds": rounds, "batches": batches,
            "batch": batch,
            "rows": {name: {"submit": figure(name, submit),
                            "submit_commit": figure(name, both),
                            "watch_events": events[name], "watch_lost": lost[name],
                            "history_entries": history[name]} for name in ROWS}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batches", type=int, default=10, help="client batches per round")
    parser.add_argument("--batch", type=int, default=100, help="transactions per batch")
    parser.add_argument("--limit", type=float, default=0.05,
                        help="largest accepted median cost of `on` (ratio - 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.rounds, args.batches, args.batch)
    worst = max(result["rows"]["on"][m]["ratio"] for m in ("submit", "submit_commit")) - 1
    result["on_cost"] = worst
    result["limit"] = args.limit
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"core {result['implementation']}, {args.rounds} rounds of {args.batches} "
              f"batches x {args.batch} (ratios: median over rounds of row / off, min..max)")
        print(f"{'row':<5} {'submit us/txn':>14} {'ratio':>22} {'+commit us/txn':>15} "
              f"{'ratio':>22} {'events':>8} {'lost':>6}")
        for name, row in result["rows"].items():
            cells = []
            for measure in ("submit", "submit_commit"):
                f = row[measure]
                cells.append(f"{f['us_per_txn']:14.2f} {f['ratio']:8.4f} "
                             f"({f['ratio_min']:.3f}..{f['ratio_max']:.3f})")
            print(f"{name:<5} {cells[0]} {cells[1]} {row['watch_events']:8} "
                  f"{row['watch_lost']:6}")
        print(f"cost of history + one watcher: {worst * 100:+.2f} % (limit "
              f"{args.limit * 100:.0f} %)")
    return 0 if worst <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())

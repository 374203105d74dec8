"""What a cluster run shows: the live progress view (stderr, while the load runs) and the
summary table (rich is imported only here, and only when used: node processes import this
package to build their command line)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .run_stats import RunStats

if TYPE_CHECKING:
    from rich.console import Console, Group

__all__ = ["live_progress", "print_summary", "render_progress"]

#: Redraws per second of the live progress view.
PROGRESS_REFRESH_PER_S = 4


def render_progress(snapshot: dict[str, Any], total: int) -> Group:
    """The progress view of a `RunStats.snapshot()`: the counts, and each node's mempool size."""
    from rich.console import Group
    from rich.table import Table

    table = Table(title="mempool-fast cluster", expand=False)
    for col in ("submitted", "accepted", "reached every node", "committed"):
        table.add_column(col, justify="right")
    table.add_row(f"{snapshot['submitted']}/{total}", str(snapshot["accepted"]),
                  str(snapshot["reached_all"]), str(snapshot["committed"]))
    sizes = Table(title="mempool size per node", expand=False)
    for name in sorted(snapshot["sizes"]):
        sizes.add_column(name, justify="right")
    sizes.add_row(*(str(snapshot["sizes"][n]) for n in sorted(snapshot["sizes"])))
    return Group(table, sizes)


@contextlib.contextmanager
def live_progress(stats: RunStats, total: int, console: Console, *,
                  show: bool) -> Iterator[Callable[[], None]]:
    """Shows the progress view on `console` (if `show`) while the block runs, erased at the end;
    yields the function that redraws it from `stats`."""
    if not show:
        yield lambda: None
        return
    from rich.live import Live

    with Live(render_progress(stats.snapshot(), total), console=console,
              refresh_per_second=PROGRESS_REFRESH_PER_S, transient=True) as live:
        yield lambda: live.update(render_progress(stats.snapshot(), total))


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """The summary of a run (`RunStats.summary()`) as a table, its errors, and OK or FAILED."""
    from rich.table import Table

    table = Table(title="cluster summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    lat = summary["latency_ms"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} ms"

    fmt = summary["transaction_format"]
    if summary.get("chain_id") is not None:
        fmt = f"{fmt} (chain id {summary['chain_id']})"
    audit = summary["committed_by_hash"]
    rows = [("nodes", summary["nodes"]), ("transaction format", fmt),
            ("submitted", summary["submitted"]),
            *((f"  {code}", n) for code, n in summary["statuses"].items()),
            ("accepted", summary["accepted"]), ("reached every node", summary["reached_all"]),
            ("never reached every node", summary["not_reached"]),
            ("committed", summary["committed"]),
            ("committed by hash on every node", "-" if audit is None else
             f"{min(audit.values(), default=0)} of {summary['accepted']}"),
            ("submit throughput", f"{summary['submit_tps']:.0f} tx/s"),
            ("reached-every-node throughput", f"{summary['reached_all_tps']:.0f} tx/s"),
            ("commit throughput", f"{summary['commit_tps']:.0f} tx/s"),
            ("latency submit -> every node p50", ms(lat["p50"])),
            ("latency submit -> every node p99", ms(lat["p99"])),
            ("p99 in ticks", "-" if summary["p99_ticks"] is None
             else f"{summary['p99_ticks']:.1f} x {summary['tick_ms']} ms")]
    for name, s in summary["nodes_final"].items():
        rows.append((f"{name} mempool (final / max) / parked",
                     f"{s['mempool_size']} / {s['max_mempool_size']} / {s['parking_lot_size']}"))
    rows += [("elapsed", f"{summary['elapsed_s']:.1f} s"),
             ("implementation", summary["implementation"]), ("version", summary["version"])]
    for key, value in rows:
        table.add_row(str(key), str(value))
    console.print(table)
    for err in summary["errors"]:
        console.print(f"[red]error:[/red] {err}")
    if summary["audit_miss"] is not None:
        console.print(f"[red]not committed:[/red] {summary['audit_miss']}")
    console.print("[green]OK[/green]: every accepted transaction reached every node"
                  + ("" if audit is None else ", and every node has it committed")
                  if summary["ok"] else "[red]FAILED[/red]: some accepted transactions never "
                  "reached every node" + ("" if summary["audit_miss"] is None else
                                          " or are not committed on every node"))

"""Print the core benchmark table from a pytest-benchmark JSON file: operation, size, pure,
Cython (median µs per call), ratio pure/Cython; then how each core's cost grows with size.

    python benchmarks/table.py /tmp/core.json [/tmp/core_1m.json ...] [--markdown]

Several files (e.g. the non-slow run and a separate 1M run) merge into one table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

#: Issue 3's targets: Cython ÷ pure speed-up at 100k, growth from 10k to 1M.
RATIO_TARGET = 10.0
GROWTH_LIMIT = 2.0
CORE_NAMES = ("python", "cython")


def load(paths: list[str]) -> dict:
    """{(op_index, operation, size): {core: median µs per call}}, the transactions one call
    handles where that grows with the pool ({(op_index, operation, size): items}), and the run's
    metadata."""
    rows: dict = defaultdict(dict)
    items: dict = {}
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            runs.append(json.load(fh))
    for bench in (b for data in runs for b in data.get("benchmarks", [])):
        info = bench.get("extra_info") or {}
        if not {"operation", "size", "core"} <= info.keys():
            continue  # not a core benchmark
        per_call = bench["stats"]["median"] / info.get("calls_per_round", 1) * 1e6
        key = (info.get("op_index", 99), info["operation"], info["size"])
        rows[key][info["core"]] = per_call
        if "items_per_call" in info:
            items[key] = info["items_per_call"]
    if not rows:
        raise SystemExit(f"{', '.join(paths)}: no core benchmarks "
                         "(extra_info operation/size/core) found")
    return {"rows": dict(sorted(rows.items())), "items": items,
            "machine": runs[0].get("machine_info", {}),
            "datetime": runs[0].get("datetime", "")}


def size_label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def fmt_us(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio_table(rows: dict) -> list[tuple]:
    """(operation, size, pure, cython, ratio) per (operation, size); missing values are None."""
    out = []
    for (_, operation, size), cores in rows.items():
        pure, cython = cores.get("python"), cores.get("cython")
        ratio = pure / cython if pure is not None and cython else None
        out.append((operation, size, pure, cython, ratio))
    return out


def growth_table(rows: dict, items: dict) -> list[tuple]:
    """(operation, core, smallest size, largest size, µs at each, growth) where both exist.

    An operation whose work grows with the pool (GC removing 10%) is compared per transaction
    handled, and its label says so."""
    by_op: dict = defaultdict(dict)
    for (index, operation, size), cores in rows.items():
        per = items.get((index, operation, size))
        label = f"{operation} per txn" if per else operation
        for core, value in cores.items():
            by_op[(index, label, core)][size] = value / per if per else value
    out = []
    for (_, operation, core), sizes in sorted(by_op.items(),
                                              key=lambda kv: (kv[0][0], CORE_NAMES.index(kv[0][2])
                                                              if kv[0][2] in CORE_NAMES else 9)):
        if len(sizes) < 2:
            continue
        small, large = min(sizes), max(sizes)
        out.append((operation, core, small, large, sizes[small], sizes[large],
                    sizes[large] / sizes[small]))
    return out


def print_markdown(result: dict) -> None:
    print("| operation | size | pure (µs) | Cython (µs) | pure ÷ Cython |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for operation, size, pure, cython, ratio in ratio_table(result["rows"]):
        ratio_s = f"{ratio:.1f}×" if ratio is not None else "—"
        print(f"| {operation} | {size_label(size)} | {fmt_us(pure)} | {fmt_us(cython)} "
              f"| {ratio_s} |")
    growth = growth_table(result["rows"], result["items"])
    if growth:
        print()
        print("| operation | core | sizes | µs (small → large) | growth |")
        print("| --- | --- | --- | ---: | ---: |")
        for operation, core, small, large, v_small, v_large, g in growth:
            print(f"| {operation} | {core} | {size_label(small)} → {size_label(large)} "
                  f"| {fmt_us(v_small)} → {fmt_us(v_large)} | {g:.2f}× |")


def print_rich(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    machine = result["machine"]
    cpu = (machine.get("cpu") or {}).get("brand_raw", machine.get("processor", ""))
    title = (f"Core mempool: median µs per call ({result['datetime'][:19]}, "
             f"{machine.get('python_implementation', '')} {machine.get('python_version', '')}, "
             f"{cpu})")
    table = Table(title=title)
    for name, justify in (("operation", "left"), ("size", "right"), ("pure µs", "right"),
                          ("Cython µs", "right"), ("pure ÷ Cython", "right")):
        table.add_column(name, justify=justify)
    for operation, size, pure, cython, ratio in ratio_table(result["rows"]):
        if ratio is None:
            ratio_s = "—"
        else:
            style = "green" if ratio >= RATIO_TARGET else "red"
            ratio_s = f"[{style}]{ratio:.1f}×[/{style}]"
        table.add_row(operation, size_label(size), fmt_us(pure), fmt_us(cython), ratio_s)
    console.print(table)

    growth = growth_table(result["rows"], result["items"])
    if growth:
        gt = Table(title=f"Cost growth with pool size (target ≤ {GROWTH_LIMIT:g}× from 10k to 1M)")
        for name, justify in (("operation", "left"), ("core", "left"), ("sizes", "left"),
                              ("µs small → large", "right"), ("growth", "right")):
            gt.add_column(name, justify=justify)
        for operation, core, small, large, v_small, v_large, g in growth:
            style = "green" if g <= GROWTH_LIMIT else "red"
            gt.add_row(operation, core, f"{size_label(small)} → {size_label(large)}",
                       f"{fmt_us(v_small)} → {fmt_us(v_large)}", f"[{style}]{g:.2f}×[/{style}]")
        console.print(gt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_files", nargs="+", metavar="json_file",
                        help="output of pytest --benchmark-json=FILE (several are merged)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown (RESULTS.md)")
    args = parser.parse_args(argv)
    result = load(args.json_files)
    if args.markdown:
        print_markdown(result)
    else:
        print_rich(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

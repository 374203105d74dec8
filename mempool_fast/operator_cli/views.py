"""How the operator commands show what a node answered: one JSON document with stable keys
(``--json``), or rich tables for a person. The JSON forms are the contract scripts rely on:

- submit: ``{"submitted": n, "accepted": k, "results": [{"hash", "sender", "sequence_number",
  "code", "message"}, ...]}`` (in input order; ``accepted`` counts code VALID);
- status: ``{"results": [{"query", "state", "reason", "hash", "sender", "sequence_number",
  "at", "detail"}, ...]}`` (in query order; ``reason`` only for DROPPED, ``at`` the node's
  clock time of the last recorded change, or null);
- account: ``{"address", "sequence_number", "ready", "parked", "blocked_on"}``;
- txpool: the node's ``inspect()`` object, bytes as hex.

Bytes are lowercase hex; enumerations are their names; absent values are null.
"""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .inputs import transaction_hash

if TYPE_CHECKING:
    from ..status import AccountStatus, TransactionStatus
    from ..transaction import SignedTransaction
    from ..types import MempoolAddTransactionStatus

__all__ = ["dumps", "jsonable", "submit_json", "status_json", "account_json", "submit_table",
           "status_table", "account_table", "inspect_view"]

#: A JSON document (an object) as the views make, read and print it: values of any JSON type.
Document = dict[str, Any]

_STATE_STYLE = {"READY": "green", "PARKED": "yellow", "COMMITTED": "cyan", "DROPPED": "red",
                "UNKNOWN": "dim"}


def jsonable(value: Any) -> Any:
    """`value` with bytes as hex, enums as names, tuples as lists, dataclasses as objects."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if hasattr(value, "__dataclass_fields__"):
        return {name: jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def dumps(document: Any) -> str:
    """One line of JSON, keys sorted."""
    return json.dumps(jsonable(document), sort_keys=True)


def _name(value: object) -> str | None:
    # the statuses' states and reasons are enumerations, whose names are str
    return None if value is None else cast(str, getattr(value, "name", str(value)))


# -- submit --
def submit_json(txns: Iterable[SignedTransaction],
                statuses: Iterable[MempoolAddTransactionStatus]) -> Document:
    results = [{"hash": transaction_hash(t).hex(), "sender": t.sender.hex(),
                "sequence_number": t.sequence_number, "code": s.code.name,
                "message": s.message} for t, s in zip(txns, statuses)]
    return {"submitted": len(results), "accepted": sum(r["code"] == "VALID" for r in results),
            "results": results}


def submit_table(document: Document) -> Table:
    table = Table(title=f"submitted {document['submitted']}, accepted {document['accepted']}",
                  title_justify="left")
    for column in ("#", "hash", "sender", "seq", "status", "message"):
        table.add_column(column, justify="right" if column in ("#", "seq") else "left",
                         overflow="fold")
    for i, r in enumerate(document["results"]):
        ok = r["code"] == "VALID"
        table.add_row(str(i), r["hash"], r["sender"], str(r["sequence_number"]),
                      Text(r["code"], style="green" if ok else "red"), r["message"])
    return table


# -- status --
def status_json(queries: Iterable[str], statuses: Iterable[TransactionStatus]) -> Document:
    results: list[Document] = []
    for query, s in zip(queries, statuses):
        sender, seq = s.pointer if s.pointer is not None else (None, None)
        results.append({"query": query, "state": _name(s.state), "reason": _name(s.reason),
                        "hash": None if s.hash is None else s.hash.hex(),
                        "sender": None if sender is None else sender.hex(),
                        "sequence_number": seq, "at": s.at, "detail": s.detail})
    return {"results": results}


def _when(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def status_table(document: Document) -> Table:
    """One row a query; "is" shows the other half of the key the node resolved (the pointer of
    a hash, the hash of a pointer)."""
    table = Table(title="transaction status", title_justify="left")
    for column in ("query", "state", "reason", "is", "at", "detail"):
        table.add_column(column, overflow="fold")
    for r in document["results"]:
        pointer = "" if r["sender"] is None else f"{r['sender']}:{r['sequence_number']}"
        other = pointer if ":" not in r["query"] else (r["hash"] or "")
        table.add_row(r["query"], Text(r["state"], style=_STATE_STYLE.get(r["state"], "")),
                      r["reason"] or "", other, _when(r["at"]), r["detail"])
    return table


# -- account --
def account_json(address: bytes, status: AccountStatus) -> Document:
    return {"address": address.hex(), "sequence_number": status.sequence_number,
            "ready": list(status.ready), "parked": list(status.parked),
            "blocked_on": status.blocked_on}


def _runs(numbers: list[int]) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    out: list[str] = []
    start: int | None = None
    prev: int | None = None
    for n in numbers:
        if start is not None and n == cast(int, prev) + 1:  # prev is set with start
            prev = n
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(out) or "-"


def account_table(document: Document) -> Table:
    table = Table(title="account", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    blocked = document["blocked_on"]
    table.add_row("address", document["address"])
    table.add_row("sequence number", str(document["sequence_number"]))
    table.add_row("ready", f"{len(document['ready'])}: {_runs(document['ready'])}")
    table.add_row("parked", f"{len(document['parked'])}: {_runs(document['parked'])}")
    table.add_row("blocked on", "-" if blocked is None else
                  Text(f"sequence number {blocked} (missing)", style="yellow"))
    return table


# -- txpool (inspect) --
def _cell(value: Any) -> str:
    value = jsonable(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def _rows_table(title: str, rows: Sequence[Document], key: str | None = None) -> Table:
    """A table of `rows` (objects), one column per field; `key` first when given (its value is
    the row's "" entry)."""
    table = Table(title=title, title_justify="left")
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    for column in columns:
        table.add_column(key if column == "" and key else str(column), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _flatten(value: Document, prefix: str = "") -> list[tuple[str, Any]]:
    """{"a": {"b": 1}, "c": 2} -> [("a.b", 1), ("c", 2)]."""
    out: list[tuple[str, Any]] = []
    for k in sorted(value):
        v = value[k]
        if isinstance(v, dict) and v:
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


#: Sections of inspect() shown first, in this order (the rest follow, sorted).
_FIRST = ("pending", "core", "peers", "history", "watches")


def inspect_view(document: Document, *, title: str = "txpool") -> Group:
    """The node's inspect() object: its scalars in one table; an object of objects (peers...)
    or a list of objects as a table with a row each; any other object as a two-column table
    of its (flattened) fields."""
    document = jsonable(document)
    summary = Table(title=title, title_justify="left", show_header=False)
    summary.add_column("field", style="bold")
    summary.add_column("value", overflow="fold")
    parts: list[Table] = [summary]
    order = [k for k in _FIRST if k in document] + sorted(k for k in document if k not in _FIRST)
    for key in order:
        value = document[key]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(_rows_table(f"{key} ({len(value)})", value))
        elif isinstance(value, dict) and value and all(isinstance(v, dict)
                                                       for v in value.values()):
            rows = [{"": name, **dict(_flatten(value[name]))} for name in sorted(value)]
            parts.append(_rows_table(f"{key} ({len(value)})", rows, key="name"))
        elif isinstance(value, dict) and value:
            nested = Table(title=key, title_justify="left", show_header=False)
            nested.add_column("field", style="bold")
            nested.add_column("value", overflow="fold")
            for name, v in _flatten(value):
                nested.add_row(name, "none" if v in ({}, []) else _cell(v))
            parts.append(nested)
        else:
            summary.add_row(key, "none" if value in ({}, []) else _cell(value))
    return Group(*parts)

"""The operator commands of `mempool-fast`: where did my transaction go, and what does the pool
hold. Each talks to one node's client endpoint through `NodeClient` and prints a table, or one
JSON document with stable keys under ``--json`` (see `views`)::

    mempool-fast submit FILE | --generate N      submit transactions, one status each
    mempool-fast status HASH|SENDER:SEQ ...      where each transaction stands on the node
    mempool-fast account ADDRESS                 an account's sequence number, ready, parked
    mempool-fast txpool [--watch]                the node's inspect(): what the pool holds
    mempool-fast config default                  a complete commented node config

Which node: ``--client ENDPOINT`` (the node's ``[node].client``), or ``--config FILE`` (read
``[node].client`` from the node's own config, as ``mempool-fast node --config FILE`` does,
without reading its key), else ``tcp://127.0.0.1:7100`` (the client endpoint of ``mempool-fast
config default``). The client endpoint is loopback-only and unauthenticated, so these commands
take no key; consensus operations are not among them. ``--timeout`` bounds each wait for the
node.

Which transaction format: the node's, given explicitly: ``--format native|ethereum`` (and, for
an Ethereum node, ``--chain-id``, which ``--generate`` signs for), else the ``[mempool]``
``transaction_format`` and ``chain_id`` of ``--config FILE``, else native. Ethereum senders and
addresses are 20 bytes (40 hex, ``0x`` optional), and ``--generate --seed S`` signs for the
accounts ``mempool-fast cluster --format ethereum --seed S`` funds (chain id 1337 unless
``--chain-id`` or the config says otherwise). Ethereum needs ``pip install
'mempool_fast[ethereum]'``.

Exit codes: 0 the node answered (whatever the statuses say), 1 the node did not answer in time
or answered with an error, 2 a bad argument or input file. Every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import TRANSACTION_FORMATS

if TYPE_CHECKING:
    from rich.console import Group, RenderableType

    from ..client import NodeClient
    from ..rpc import WireFormat
    from ..status import AccountStatus, TransactionStatus
    from ..types import MempoolAddTransactionStatus
    from .views import Document

__all__ = ["add_commands", "run", "COMMANDS", "DEFAULT_TIMEOUT_S", "EXIT_OK", "EXIT_NODE",
           "EXIT_INPUT"]

#: The subcommands this module adds to `mempool-fast`.
COMMANDS = ("submit", "status", "account", "txpool", "config")
#: Seconds each request waits for the node by default.
DEFAULT_TIMEOUT_S = 5.0
EXIT_OK, EXIT_NODE, EXIT_INPUT = 0, 1, 2
#: Most transactions (or keys) in one request (under the node's default
#: client_max_transactions, which bounds both).
REQUEST_CHUNK = 1_000


def _client_options() -> argparse.ArgumentParser:
    """The options of every command that talks to a node."""
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_mutually_exclusive_group()
    where.add_argument("--client", metavar="ENDPOINT",
                       help="the node's client endpoint ([node].client), e.g. "
                            "tcp://127.0.0.1:7100 (the default)")
    where.add_argument("--config", metavar="FILE",
                       help="read the client endpoint from this node config")
    options.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                         help="how long to wait for the node (default %(default)s)")
    options.add_argument("--json", action="store_true",
                         help="print one JSON document (stable keys) instead of a table")
    options.add_argument("--format", choices=TRANSACTION_FORMATS, default=None,
                         help="the node's transaction format (default: --config's "
                              "[mempool].transaction_format, else native)")
    options.add_argument("--chain-id", type=int, default=None, metavar="N",
                         help="an ethereum node's chain id (default: --config's "
                              "[mempool].chain_id, else 1337, mempool-fast cluster's)")
    return options


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    """Add the operator commands to `mempool-fast`'s subparsers."""
    client = _client_options()
    parents = [common, client]

    submit = sub.add_parser(
        "submit", parents=parents, help="submit transactions from a file (one hex wire form a "
        "line, in the node's format) or generated for test accounts; prints each one's status")
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", metavar="FILE",
                        help="transactions, one hex wire form a line ('#' comments and blank "
                             "lines ignored; '-': standard input)")
    source.add_argument("--generate", type=int, metavar="N",
                        help="sign N test transactions for the accounts of `mempool-fast "
                             "cluster --seed SEED` instead")
    submit.add_argument("--accounts", type=int, default=10,
                        help="--generate: over this many test accounts (default %(default)s)")
    submit.add_argument("--seed", type=int, default=0,
                        help="--generate: the cluster seed the accounts derive from "
                             "(default %(default)s)")
    submit.add_argument("--first-seq", default="auto", metavar="auto|N",
                        help="--generate: each account's first sequence number; auto (the "
                             "default): the next one the node does not hold")
    submit.add_argument("--write", metavar="FILE",
                        help="--generate: write the transactions to FILE (the submit file "
                             "format; '-': standard output) instead of submitting them")

    status = sub.add_parser(
        "status", parents=parents,
        help="where each transaction stands on the node: READY, PARKED, COMMITTED, DROPPED "
             "(and why) or UNKNOWN")
    status.add_argument("keys", nargs="+", metavar="HASH|SENDER:SEQ",
                        help="a transaction hash (64 hex) or sender (64 hex; 40 for an "
                             "ethereum node) ':' sequence number")

    account = sub.add_parser(
        "account", parents=parents,
        help="an account on the node: sequence number, ready and parked transactions, the "
             "missing one the parked wait for")
    account.add_argument("address", metavar="ADDRESS",
                         help="the account address (64 hex; 40 for an ethereum node)")

    txpool = sub.add_parser("txpool", parents=parents,
                            help="what the node's pool holds (its inspect())")
    txpool.add_argument("--watch", action="store_true",
                        help="refresh until Ctrl-C (with --json: one JSON line a refresh)")
    txpool.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help="--watch: seconds between refreshes (default %(default)s)")
    txpool.add_argument("--count", type=int, default=0, metavar="N",
                        help="--watch: stop after N refreshes (default 0: until Ctrl-C)")

    config = sub.add_parser("config", parents=[common], help="node configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    default = config_sub.add_parser(
        "default", parents=[common],
        help="print a complete commented node config (every key at its default) that "
             "`mempool-fast node --config` accepts once its key_file exists")
    default.add_argument("--json", action="store_true",
                         help="print its values as one JSON object instead")


# -- running ------------------------------------------------------------------------------------
class _Failure(Exception):
    """Ends a command with one line on stderr and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def run(args: argparse.Namespace) -> int:
    """Run one operator command; returns the exit code (failures: one line on stderr)."""
    import zmq

    from ..errors import ConfigError, RemoteError, RpcError, RpcTimeout
    from .inputs import InputError

    command = args.command if args.command != "config" else f"config {args.config_command}"
    try:
        return _COMMAND_FUNCTIONS[args.command](args)
    except _Failure as exc:
        code, message = exc.code, str(exc)
    except (InputError, ConfigError) as exc:
        code, message = EXIT_INPUT, str(exc)
    except RpcTimeout:
        code, message = EXIT_NODE, (f"no reply from {_endpoint_of(args)} within "
                                    f"{args.timeout:g} s (is the node running? --client or "
                                    "--config say where it listens)")
    except RemoteError as exc:
        code, message = EXIT_NODE, f"the node answered with an error: {exc}"
    except RpcError as exc:
        code, message = EXIT_NODE, f"the node's reply did not decode: {exc}"
    except zmq.ZMQError as exc:
        code, message = EXIT_INPUT, f"cannot use endpoint {_endpoint_of(args)}: {exc}"
    except BrokenPipeError:  # the output was piped into `head` or the like
        return EXIT_OK
    print(f"mempool-fast {command}: {' '.join(message.split())}", file=sys.stderr)
    return code


def _endpoint_of(args: argparse.Namespace) -> str:
    from ..node.config import NODE_REQUIRED, client_endpoint

    if getattr(args, "client", None):
        endpoint: str = args.client
        return endpoint
    if getattr(args, "config", None):
        return client_endpoint(args.config)
    return NODE_REQUIRED["client"][0]


def _format_of(args: argparse.Namespace) -> tuple[str, int]:
    """(format name, chain id) the node holds: --format/--chain-id, else --config's [mempool],
    else native (the chain id then: the cluster's default)."""
    from ..cluster import DEFAULT_CHAIN_ID
    from ..node.config import client_transaction_format

    name, chain_id = "native", DEFAULT_CHAIN_ID
    if getattr(args, "config", None):
        name, chain_id = client_transaction_format(args.config)
    name = args.format or name
    chain_id = args.chain_id if args.chain_id is not None else chain_id
    if args.chain_id is not None and name != "ethereum":
        raise _Failure(EXIT_INPUT, "--chain-id is for an ethereum node (--format ethereum)")
    if not 1 <= chain_id <= (1 << 64) - 1:
        raise _Failure(EXIT_INPUT, f"--chain-id must be in 1..{(1 << 64) - 1}, got {chain_id}")
    return name, chain_id


def _wire_format(args: argparse.Namespace) -> WireFormat | None:
    """The format object a client of the node speaks (None: native); the ethereum extra's
    absence is one line naming it."""
    name, chain_id = _format_of(args)
    if name == "native":
        return None
    from ..formats.ethereum import EthereumFormat
    try:
        return EthereumFormat(chain_id)
    except ImportError as exc:
        raise _Failure(EXIT_INPUT, str(exc)) from None


def _sender_length(args: argparse.Namespace) -> int:
    """Bytes of the node's senders and addresses (checked before anything is asked)."""
    from ..rpc import NATIVE, check_sender_length

    return check_sender_length(_wire_format(args) or NATIVE)


@contextmanager
def _client(args: argparse.Namespace, *, speak_format: bool = True) -> Iterator[NodeClient]:
    """A client of the node, speaking its transaction format (`speak_format`: a command that
    carries no sender or transaction, txpool, talks to every node alike)."""
    from ..client import NodeClient

    if not args.timeout > 0:
        raise _Failure(EXIT_INPUT, f"--timeout must be positive, got {args.timeout}")
    fmt = _wire_format(args) if speak_format else None
    client = NodeClient(_endpoint_of(args), timeout=args.timeout, transaction_format=fmt)
    try:
        yield client
    finally:
        client.close()


def _call(client: NodeClient, method: str, *call_args: object) -> Any:
    """client.<method>(...), or a clear failure if this NodeClient has no such call (what it
    returns depends on the method: the caller knows)."""
    fn = getattr(client, method, None)
    if fn is None:
        raise _Failure(EXIT_NODE, f"NodeClient.{method} is not available in this build")
    return fn(*call_args)


def _print(args: argparse.Namespace, document: Document,
           table: Callable[[Document], RenderableType]) -> None:
    from .views import dumps

    if args.json:
        sys.stdout.write(dumps(document) + "\n")
        sys.stdout.flush()
        return
    from rich.console import Console

    Console().print(table(document))


# -- the commands -------------------------------------------------------------------------------
def _submit(args: argparse.Namespace) -> int:
    from .inputs import read_transactions, write_transactions
    from .views import submit_json, submit_table

    if args.generate is None:
        if args.write:
            raise _Failure(EXIT_INPUT, "--write goes with --generate")
        fmt = _wire_format(args)
        txns = read_transactions(args.file) if fmt is None else \
            read_transactions(args.file, fmt.decode)
        with _client(args) as client:
            statuses = _submit_all(client, txns)
    else:
        if args.generate < 1 or args.accounts < 1:
            raise _Failure(EXIT_INPUT, "--generate and --accounts must be at least 1")
        if args.write and args.first_seq == "auto":
            txns = _generated(args, None)  # nothing to ask a node: every account from 0
            write_transactions(args.write, txns)
            return EXIT_OK
        with _client(args) as client:
            txns = _generated(args, client)
            if args.write:
                write_transactions(args.write, txns)
                return EXIT_OK
            statuses = _submit_all(client, txns)
    _print(args, submit_json(txns, statuses), submit_table)
    return EXIT_OK


def _submit_all(client: NodeClient, txns: Sequence[Any]
                ) -> list[MempoolAddTransactionStatus]:
    statuses: list[MempoolAddTransactionStatus] = []
    for base in range(0, len(txns), REQUEST_CHUNK):
        statuses += client.submit(txns[base:base + REQUEST_CHUNK])
    return statuses


def _generated(args: argparse.Namespace, client: NodeClient | None) -> list[Any]:
    """--generate's transactions, in the node's format, for the cluster's test accounts."""
    from ..transaction import account_address
    from .inputs import (InputError, cluster_account_keys, cluster_ethereum_keys,
                         generate_ethereum_transactions, generate_transactions)

    name, chain_id = _format_of(args)
    _wire_format(args)  # the ethereum extra is there (or one line says what to install)
    eth_keys = cluster_ethereum_keys(args.seed, args.accounts) if name == "ethereum" else []
    keys = [] if eth_keys else cluster_account_keys(args.seed, args.accounts)
    addresses = [k.address for k in eth_keys] or \
        [account_address(bytes(k.verify_key)) for k in keys]
    if args.first_seq == "auto":
        first = [0] * len(addresses) if client is None else \
            [_next_free(client, address) for address in addresses]
    else:
        try:
            first = [int(args.first_seq)] * len(addresses)
        except ValueError:
            raise InputError(f"--first-seq must be auto or a number, got {args.first_seq!r}") \
                from None
        if first[0] < 0:
            raise InputError(f"--first-seq must not be negative, got {args.first_seq}")
    if eth_keys:
        return generate_ethereum_transactions(eth_keys, args.generate, first, chain_id)
    return generate_transactions(keys, args.generate, first)


def _next_free(client: NodeClient, address: bytes) -> int:
    """The first sequence number, from the account's current one, that the node holds no
    transaction for."""
    status: AccountStatus = _call(client, "account_status", address)
    held = set(status.ready) | set(status.parked)
    seq = status.sequence_number
    while seq in held:
        seq += 1
    return seq


def _status(args: argparse.Namespace) -> int:
    from .inputs import parse_key
    from .views import status_json, status_table

    length = _sender_length(args)
    keys = [parse_key(text, length) for text in args.keys]  # all checked before any request
    with _client(args) as client:
        statuses: list[TransactionStatus] = []
        for base in range(0, len(keys), REQUEST_CHUNK):
            statuses += _call(client, "transaction_status", keys[base:base + REQUEST_CHUNK])
    _print(args, status_json(args.keys, statuses), status_table)
    return EXIT_OK


def _account(args: argparse.Namespace) -> int:
    from .inputs import parse_address
    from .views import account_json, account_table

    address = parse_address(args.address, _sender_length(args))
    with _client(args) as client:
        status = _call(client, "account_status", address)
    _print(args, account_json(address, status), account_table)
    return EXIT_OK


def _txpool(args: argparse.Namespace) -> int:
    from .views import inspect_view

    if not args.watch:
        with _client(args, speak_format=False) as client:
            document: Document = _call(client, "inspect")
        _print(args, document, inspect_view)
        return EXIT_OK
    if not args.interval > 0 or args.count < 0:
        raise _Failure(EXIT_INPUT, "--interval must be positive and --count not negative")
    with _client(args, speak_format=False) as client:
        first = _call(client, "inspect")  # an unreachable node fails here, with one line
        with _interrupt_on_sigterm():
            try:
                _watch(args, client, first)
            except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) is how a watch ends
                pass
    return EXIT_OK


def _watch(args: argparse.Namespace, client: NodeClient, document: Document | None) -> None:
    """Show `document`, then a fresh inspect() every --interval seconds, until Ctrl-C or
    --count refreshes. A failed refresh is shown (the node went away?) and retried."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from ..errors import RpcError
    from .views import dumps, inspect_view

    shown = 0
    wake = threading.Event()

    def fetch() -> tuple[Document | None, str | None]:
        try:
            return _call(client, "inspect"), None
        except RpcError as exc:
            return None, f"{time.strftime('%H:%M:%S')} refresh failed: {exc}"

    if args.json:
        while True:
            if document is not None:
                sys.stdout.write(dumps(document) + "\n")
                sys.stdout.flush()
            shown += 1
            if args.count and shown >= args.count:
                return
            wake.wait(args.interval)
            document, error = fetch()
            if error is not None:
                print(f"mempool-fast txpool: {error}", file=sys.stderr)

    def view(doc: Document | None, error: str | None) -> Group:
        stamp = Text(f"{_endpoint_of(args)} at {time.strftime('%H:%M:%S')}, every "
                     f"{args.interval:g} s; Ctrl-C to stop", style="dim")
        parts: list[Text | Group] = [stamp, inspect_view(doc)] if doc is not None else [stamp]
        if error is not None:
            parts.append(Text(error, style="red"))
        return Group(*parts)

    last = document
    with Live(view(document, None), console=Console(), auto_refresh=False) as live:
        while True:
            shown += 1
            if args.count and shown >= args.count:
                return
            wake.wait(args.interval)
            document, error = fetch()
            last = document if document is not None else last
            live.update(view(last, error), refresh=True)


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM ends a watch as Ctrl-C does (main thread only); the old handler is back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(*_: object) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _config(args: argparse.Namespace) -> int:
    from ..node.config import config_reference

    text = config_reference()
    if args.json:
        import tomllib

        from .views import dumps
        sys.stdout.write(dumps(tomllib.loads(text)) + "\n")
    else:
        sys.stdout.write(text)
    sys.stdout.flush()
    return EXIT_OK


_COMMAND_FUNCTIONS = {"submit": _submit, "status": _status, "account": _account,
                      "txpool": _txpool, "config": _config}

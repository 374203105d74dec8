"""`mempool-fast`: keygen, node --config FILE, cluster, journal salvage FILE, and the operator
commands of one running node (submit, status, account, txpool, config default: see
`mempool_fast.operator_cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (before or after its name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS,
                        help="logging level: DEBUG, INFO, WARNING... (default WARNING; INFO "
                             "for node)")
    common.add_argument("--log-format", default=argparse.SUPPRESS, choices=("text", "json"),
                        help="text lines (default) or one JSON object a line, for log "
                             "collectors")
    return common


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, and the
    exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime
        import json

        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _configure_logging(level: int, log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def _version() -> str:
    """`mempool-fast --version`: the package version, the core in use and the Python."""
    from . import IMPLEMENTATION, __version__

    return (f"mempool-fast {__version__} ({IMPLEMENTATION} core, Python "
            f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro})")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="mempool-fast", parents=[common],
        description="A shared transaction mempool for blockchain validators.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", parents=[common],
                            help="write a new Ed25519 node key, print its public keys")
    keygen.add_argument("--out", required=True, type=Path, help="key file to create (hex seed)")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    node = sub.add_parser("node", parents=[common],
                          help="run one validator node until SIGTERM/SIGINT")
    node.add_argument("--config", required=True, type=Path, help="the node's TOML config")

    from .cluster import add_arguments
    cluster = sub.add_parser("cluster", parents=[common],
                             help="run a local N-node cluster under a load and summarise what "
                                  "the mempool did")
    add_arguments(cluster)

    journal = sub.add_parser("journal", parents=[common], help="journal maintenance")
    journal_sub = journal.add_subparsers(dest="journal_command", required=True)
    salvage = journal_sub.add_parser(
        "salvage", parents=[common],
        help="rewrite a journal the node refused to open, keeping every record whose checksum "
             "holds (the original is kept beside it)")
    salvage.add_argument("path", type=Path, help="the journal file")

    from .operator_cli import add_commands
    add_commands(sub, common)
    return parser


def _keygen(out: Path, force: bool) -> int:
    from .network.zmq import curve_keypair_from_seed
    from .node import write_key_file
    from .transaction import account_address

    if out.exists() and not force:
        print(f"mempool-fast: {out} exists (use --force to overwrite)", file=sys.stderr)
        return 2
    key = write_key_file(out)
    public = bytes(key.verify_key)
    print(f"ed25519_public_key = \"{public.hex()}\"")
    print(f"curve_public_key = \"{curve_keypair_from_seed(bytes(key))[0].decode()}\"")
    print(f"account_address = \"{account_address(public).hex()}\"")
    return 0


def _salvage(path: Path) -> int:
    from .errors import MempoolFastError
    from .journal import salvage

    try:
        report = salvage(path)
    except (MempoolFastError, OSError) as exc:
        print(f"mempool-fast journal salvage: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: kept {report.live_transactions} live transactions from "
          f"{report.valid_records} valid records; skipped {report.damaged_regions} damaged "
          f"regions ({report.damaged_bytes} bytes); "
          f"{'header intact' if report.seed_from_header else 'header damaged, salt recovered'}"
          f"; the original is at {report.original_kept_at}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mempool-fast` script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    default_level = "INFO" if args.command == "node" else "WARNING"
    level_name = str(getattr(args, "log_level", default_level))
    level = getattr(logging, level_name.upper(), None)
    if not isinstance(level, int):
        print(f"mempool-fast: unknown log level {level_name!r}", file=sys.stderr)
        return 2
    _configure_logging(level, str(getattr(args, "log_format", "text")))
    if args.command == "keygen":
        return _keygen(args.out, args.force)
    if args.command == "node":
        from .node import main as node_main
        return node_main(str(args.config))
    if args.command == "journal":
        return _salvage(args.path)
    from .operator_cli import COMMANDS, run
    if args.command in COMMANDS:
        return run(args)
    from .cluster import run_from_args
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())

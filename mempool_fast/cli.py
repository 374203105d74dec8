"""`mempool-fast`: keygen, node --config FILE, cluster (a whole local network with a load)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mempool-fast",
        description="A shared transaction mempool for blockchain validators.")
    parser.add_argument("--log-level", default="WARNING",
                        help="logging level (DEBUG, INFO, WARNING...; default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="write a new Ed25519 node key, print its public keys")
    keygen.add_argument("--out", required=True, type=Path, help="key file to create (hex seed)")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    node = sub.add_parser("node", help="run one validator node until SIGTERM/SIGINT")
    node.add_argument("--config", required=True, type=Path, help="the node's TOML config")

    from .cluster import add_arguments
    cluster = sub.add_parser("cluster", help="run a local N-node cluster under a load and "
                                             "summarise what the mempool did")
    add_arguments(cluster)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mempool-fast` script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(f"mempool-fast: unknown log level {args.log_level!r}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "keygen":
        return _keygen(args.out, args.force)
    if args.command == "node":
        from .node import main as node_main
        return node_main(str(args.config))
    from .cluster import run_from_args
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())

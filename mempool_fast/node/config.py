"""A node's TOML configuration: read, checked field by field, and turned into a NodeConfig.

Every value is checked at load (type, range, address syntax, key validity) and every unknown
key is an error naming its section, so a node either starts with exactly what the file says or
does not start, with one line naming the file and the field (`ConfigError`). Relative paths are
relative to the config file. The full reference, with defaults, is `config_reference()` (and
`mempool-fast config default`); `client_endpoint(path)` reads only a config's client endpoint
and `client_transaction_format(path)` only its transaction format and chain id (for operator
tools, which need not read the node's key).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import ipaddress
import json
import os
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import nacl.exceptions
import nacl.signing

from ..config import MempoolConfig
from ..errors import ConfigError
from ..network.zmq import PeerAddress, ZmqSettings, curve_public_from_ed25519

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    _Dataclass = TypeVar("_Dataclass", bound=DataclassInstance)

__all__ = ["NodeConfig", "PeerConfig", "ConfigError", "read_key_file", "write_key_file",
           "CURVE_KEY_SOURCE", "NODE_DEFAULTS", "NODE_REQUIRED", "config_reference",
           "client_endpoint", "client_transaction_format"]

#: The only supported origin of a node's CurveZMQ key pair (stated in every config).
CURVE_KEY_SOURCE = "ed25519"
_LOOPBACK_PREFIXES = ("tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+|\*):(\d{1,5}|\*)")
_SECTIONS = ("node", "peers", "mempool", "transport")


def _key_error(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"key file {path} {problem}")


def read_key_file(path: str | Path) -> bytes:
    """The 32-byte Ed25519 seed stored hex-encoded in `path`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        seed = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise _key_error(path, "is not hex (it should hold 64 hex characters)") from None
    if len(seed) != 32:
        raise _key_error(path, f"holds {len(seed)} bytes, not a 32-byte seed")
    return seed


def write_key_file(path: str | Path, seed: bytes | None = None) -> nacl.signing.SigningKey:
    """Write a (new, unless `seed` is given) Ed25519 seed to `path`, readable by the owner
    only: written to a fresh 0600 file that then replaces `path`, whatever `path`'s mode was."""
    key = nacl.signing.SigningKey(seed) if seed is not None else nacl.signing.SigningKey.generate()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (bytes(key).hex() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return key


@dataclass(frozen=True)
class PeerConfig:
    name: str
    address: str
    public_key: bytes  # Ed25519, 32 bytes


#: [node] settings with a default: name -> (default, kind, lo, hi, what it is).
NODE_DEFAULTS: dict[str, tuple[Any, type, float | None, float | None, str]] = {
    "curve_key": (CURVE_KEY_SOURCE, str, None, None,
                  "origin of the CurveZMQ key pair; only \"ed25519\" (derived from key_file)"),
    "consensus": ("", str, None, None,
                  "consensus endpoint (get_block, commit): an ipc:// path (owner-only file "
                  "mode) or a tcp:// address that only consensus_clients may use; \"\": none"),
    "consensus_clients": ([], list, None, None,
                          "Ed25519 public keys (hex) allowed on a tcp:// consensus endpoint"),
    "journal": ("", str, None, None,
                "journal of client transactions (\"\": the store's path with .journal)"),
    "metrics_port": (0, int, 0, 65535, "HTTP port for /metrics, /healthz, /readyz; 0: off"),
    "metrics_address": ("127.0.0.1", str, None, None, "address the HTTP port binds"),
    "client_max_request_bytes": (16 << 20, int, 1024, 1 << 30,
                                 "largest client request; a larger frame drops the client"),
    "client_max_transactions": (2_000, int, 1, 1_000_000,
                                "most transactions in one SUBMIT (more: a clear error)"),
    "client_workers": (4, int, 1, 256,
                       "client requests served at once, fairly across clients"),
    "max_block_time_skew_s": (60.0, float, 0, 10 ** 9,
                              "a COMMIT whose block_time is further ahead of this node's "
                              "clock is refused"),
    "ready_min_peers": (1, int, 0, 10_000,
                        "/readyz is 200 once the journal is replayed and links to at least "
                        "this many other validators are up; default 1, or 0 when [[peers]] "
                        "lists no other validator; more than the other validators listed is "
                        "an error (the node could never be ready)"),
    "log_format": ("text", str, None, None, "\"text\" or \"json\" (one JSON object a line)"),
}
_REQUIRED = ("name", "key_file", "listen", "client", "store")
#: The [node] settings without a default: name -> (example value, what it is).
NODE_REQUIRED: dict[str, tuple[str, str]] = {
    "name": ("node0", "this validator's name (1-64 letters, digits, '_', '.', '-'), as its "
                      "peers list it"),
    "key_file": ("node.key", "Ed25519 seed, 64 hex characters: create it with "
                             "`mempool-fast keygen --out node.key`"),
    "listen": ("tcp://127.0.0.1:7000", "validator-to-validator link (CurveZMQ): tcp://HOST:PORT "
                                       "or ipc://PATH"),
    "client": ("tcp://127.0.0.1:7100", "client endpoint (submit, status, account, inspect): "
                                       "loopback or ipc only, unauthenticated"),
    "store": ("node.sqlite", "SQLite account store (created if missing)"),
}
assert tuple(NODE_REQUIRED) == _REQUIRED


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node needs, read from its TOML file by `NodeConfig.load`."""

    name: str
    seed: bytes
    listen: str
    client: str
    store: Path
    peers: list[PeerConfig]
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    transport: ZmqSettings = field(default_factory=ZmqSettings)
    metrics_port: int = 0
    metrics_address: str = "127.0.0.1"
    #: Journal of client transactions, replayed at start (default: the store's path with the
    #: suffix ".journal").
    journal: Path | None = None
    consensus: str = ""
    consensus_clients: tuple[bytes, ...] = ()
    client_max_request_bytes: int = NODE_DEFAULTS["client_max_request_bytes"][0]
    client_max_transactions: int = NODE_DEFAULTS["client_max_transactions"][0]
    client_workers: int = NODE_DEFAULTS["client_workers"][0]
    max_block_time_skew_s: float = NODE_DEFAULTS["max_block_time_skew_s"][0]
    ready_min_peers: int = NODE_DEFAULTS["ready_min_peers"][0]
    log_format: str = "text"
    #: The file it was read from (for error messages), if any.
    source: Path | None = None

    @property
    def journal_path(self) -> Path:
        return self.journal if self.journal is not None else self.store.with_suffix(".journal")

    @classmethod
    def load(cls, path: str | Path) -> "NodeConfig":
        path = Path(path)
        data = _read_toml(path)
        try:
            return cls.from_dict(data, base=path.parent, source=path)
        except ConfigError as exc:
            raise ConfigError(f"config {path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path = Path("."),
                  source: Path | None = None) -> "NodeConfig":
        unknown = sorted(set(data) - set(_SECTIONS))
        if unknown:
            raise ConfigError(f"unknown top-level key {unknown[0]!r} (sections: "
                              f"{', '.join(_SECTIONS)})")
        node = data.get("node")
        if not isinstance(node, dict):
            raise ConfigError("a [node] table is needed")
        values = _node_values(node)
        seed = read_key_file(base / values["key_file"])
        peers = _peers(data.get("peers", []), values["name"], seed)
        values["ready_min_peers"] = _ready_min_peers(node, values, peers)
        consensus = _consensus(values, base)
        journal = values["journal"]
        return cls(
            name=values["name"], seed=seed, listen=values["listen"], client=values["client"],
            store=base / values["store"], peers=peers,
            mempool=_dataclass_from(MempoolConfig, data.get("mempool", {}), "mempool"),
            transport=_dataclass_from(ZmqSettings, data.get("transport", {}), "transport"),
            metrics_port=values["metrics_port"], metrics_address=values["metrics_address"],
            journal=base / journal if journal else None, consensus=consensus,
            consensus_clients=tuple(bytes.fromhex(k) for k in values["consensus_clients"]),
            client_max_request_bytes=values["client_max_request_bytes"],
            client_max_transactions=values["client_max_transactions"],
            client_workers=values["client_workers"],
            max_block_time_skew_s=float(values["max_block_time_skew_s"]),
            ready_min_peers=values["ready_min_peers"], log_format=values["log_format"],
            source=source)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None


def client_endpoint(path: str | Path) -> str:
    """The client endpoint ([node].client) of the node config at `path`, checked as the node
    checks it, without reading the rest (an operator tool need not read the node's key).
    The value is returned as written: the node binds it as written too."""
    path = Path(path)
    node = _read_toml(path).get("node")
    value = node.get("client") if isinstance(node, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config {path}: [node].client must be set (a non-empty string)")
    try:
        _endpoint("client", value, loopback=True)
    except ConfigError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    return value


def client_transaction_format(path: str | Path) -> tuple[str, int]:
    """(transaction format name, chain id) of the node config at `path`: its [mempool] table
    checked as the node checks it (every other setting at its default when absent), without
    reading the rest. A client speaks the node's format (`NodeClient(transaction_format=)`)."""
    path = Path(path)
    table = _read_toml(path).get("mempool", {})
    try:
        mempool = _dataclass_from(MempoolConfig, table, "mempool")
    except ConfigError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    return mempool.transaction_format, mempool.chain_id


def _ready_min_peers(node: dict[str, Any], values: dict[str, Any], peers: list[PeerConfig]) -> int:
    """[node].ready_min_peers: as given, at most the other validators listed; when not given,
    1 if any other validator is listed, else 0 (a lone node is ready once replayed)."""
    others = sum(1 for p in peers if p.name != values["name"])
    if "ready_min_peers" not in node:
        default: int = NODE_DEFAULTS["ready_min_peers"][0]
        return min(default, others)
    need: int = values["ready_min_peers"]  # checked an int by _node_values
    if need > others:
        raise ConfigError(f"[node].ready_min_peers is {need} but [[peers]] lists {others} other "
                          "validator" + ("" if others == 1 else "s")
                          + ": the node could never be ready")
    return need


def _check_value(key: str, value: Any, kind: type, lo: float | None, hi: float | None) -> None:
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"[node].{key} must be a {kind.__name__}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"[node].{key} must be in {lo}..{hi}, got {value!r}")


def _endpoint(key: str, value: str, *, loopback: bool = False) -> str:
    if value.startswith("ipc://"):
        if len(value) <= len("ipc://"):
            raise ConfigError(f"[node].{key} {value!r} names no ipc path")
        return value
    if loopback and value.startswith("inproc://"):
        return value
    match = _TCP.fullmatch(value)
    if match is None or (match.group(2) != "*" and not 0 <= int(match.group(2)) <= 65535):
        raise ConfigError(f"[node].{key} {value!r} is not a ZeroMQ address (tcp://HOST:PORT "
                          "or ipc://PATH)")
    if loopback and not value.startswith(_LOOPBACK_PREFIXES):
        raise ConfigError(f"[node].{key} {value!r} is not a loopback address: the client "
                          "endpoint is unauthenticated and must stay local")
    return value


def _node_values(node: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(node) - set(_REQUIRED) - set(NODE_DEFAULTS))
    if unknown:
        raise ConfigError(f"[node] has unknown setting {unknown[0]!r}")
    missing = [key for key in _REQUIRED if not isinstance(node.get(key), str) or not node[key]]
    if missing:
        raise ConfigError(", ".join(f"[node].{key}" for key in missing)
                          + (" must be set (a non-empty string)" if len(missing) == 1 else
                             " must be set (non-empty strings)"))
    values = {key: node[key] for key in _REQUIRED}
    for key, (default, kind, lo, hi, _) in NODE_DEFAULTS.items():
        value = node.get(key, default)
        _check_value(key, value, kind, lo, hi)
        values[key] = value
    if not _NAME.fullmatch(values["name"]):
        raise ConfigError(f"[node].name {values['name']!r} must be 1-64 letters, digits, "
                          "'_', '.' or '-'")
    if values["curve_key"] != CURVE_KEY_SOURCE:
        raise ConfigError(f"[node].curve_key must be {CURVE_KEY_SOURCE!r}: the CurveZMQ key "
                          "pair derives from the node's Ed25519 key")
    if values["log_format"] not in ("text", "json"):
        raise ConfigError(f"[node].log_format must be \"text\" or \"json\", got "
                          f"{values['log_format']!r}")
    _endpoint("listen", values["listen"])
    _endpoint("client", values["client"], loopback=True)
    address = values["metrics_address"]
    if address != "localhost":
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"[node].metrics_address {address!r} is not an IP address") \
                from None
    for i, key in enumerate(values["consensus_clients"]):
        _public_key(key, f"[node].consensus_clients[{i}]")
    return values


def _consensus(values: dict[str, Any], base: Path) -> str:
    address: str = values["consensus"]  # checked a str by _node_values
    if not address:
        return ""
    _endpoint("consensus", address)
    if address.startswith("ipc://"):
        path = Path(address[len("ipc://"):])
        return "ipc://" + str(path if path.is_absolute() else (base / path).resolve())
    if not values["consensus_clients"]:
        raise ConfigError("[node].consensus is a tcp:// address, so [node].consensus_clients "
                          "must list the Ed25519 public keys allowed to use it")
    return address


def _public_key(value: Any, where: str) -> bytes:
    try:
        key = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{where} must be 64 hex characters (an Ed25519 public key)")
    try:
        curve_public_from_ed25519(key)
    except (nacl.exceptions.CryptoError, ValueError):
        raise ConfigError(f"{where} is not a valid Ed25519 public key (not a curve point)") \
            from None
    return key


def _peers(table: Any, own_name: str, seed: bytes) -> list[PeerConfig]:
    if not isinstance(table, list):
        raise ConfigError("[[peers]] must be an array of tables")
    own_key = bytes(nacl.signing.SigningKey(seed).verify_key)
    peers = []
    for i, p in enumerate(table):
        where = f"peers[{i}]"
        if not isinstance(p, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(p) - {"name", "address", "public_key"})
        if unknown:
            raise ConfigError(f"{where} has unknown setting {unknown[0]!r}")
        for setting in ("name", "address"):
            if not isinstance(p.get(setting), str) or not p[setting]:
                raise ConfigError(f"{where}.{setting} must be a non-empty string")
        if not _NAME.fullmatch(p["name"]):
            raise ConfigError(f"{where}.name {p['name']!r} must be 1-64 letters, digits, '_', "
                              "'.' or '-'")
        key = _public_key(p.get("public_key"), f"{where}.public_key")
        try:
            PeerAddress(p["address"], curve_public_from_ed25519(key))
        except ConfigError as exc:
            raise ConfigError(f"{where}.address: {exc}") from None
        if p["name"] == own_name and key != own_key:
            raise ConfigError(f"{where} is named {own_name!r} like this node, but its "
                              "public_key is not this node's key")
        peers.append(PeerConfig(p["name"], p["address"], key))
    names = [p.name for p in peers]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConfigError(f"peer name {duplicate!r} is listed twice")
    return peers


def _dataclass_from(cls: type[_Dataclass], table: Any, section: str) -> _Dataclass:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"[{section}] has unknown setting {unknown[0]!r}")
    try:
        return cls(**table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from None


# -- the reference config (`mempool-fast config default`) ---------------------------------------
_WIDTH = 96


def _toml(value: Any) -> str:
    """A default as a TOML literal (bools, numbers, strings, lists of those)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def _comment(text: str, indent: str = "") -> list[str]:
    return [indent + "# " + line for line in textwrap.wrap(" ".join(text.split()),
                                                          _WIDTH - len(indent) - 2)]


def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines written just above each field of a dataclass, by field name
    (empty when the source is not available)."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    source = textwrap.dedent("".join(lines))
    # the source of a class is its class statement (its decorators included)
    body = cast(ast.ClassDef, ast.parse(source).body[0]).body
    text = source.splitlines()
    out: dict[str, str] = {}
    for node in body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        doc: list[str] = []
        row = node.lineno - 2  # the line above, 0-based
        while row >= 0 and text[row].strip().startswith("#:"):
            doc.insert(0, text[row].strip()[2:].strip())
            row -= 1
        out[node.target.id] = " ".join(doc)
    return out


def _section(name: str, cls: type[DataclassInstance]) -> list[str]:
    comments = _field_comments(cls)
    lines = [f"[{name}]"]
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING:
            continue
        # a field without a comment of its own shares the one above it (a pair of limits...)
        lines += _comment(comments.get(f.name, ""))
        lines.append(f"{f.name} = {_toml(f.default)}")
    return lines


def config_reference() -> str:
    """A complete node config, every key with its default and what it is, as TOML the node
    accepts as it is (once `key_file` exists): the required [node] keys with example values,
    every other key at its default. `ready_min_peers` is the one key left commented out, since
    its default depends on [[peers]]."""
    lines = _comment("mempool-fast node config (TOML). Every key is shown with its default; "
                     "relative paths are relative to this file. Before the first start, create "
                     "the key: `mempool-fast keygen --out node.key`; then run `mempool-fast "
                     "node --config THIS_FILE`.")
    lines += ["", "[node]"]
    lines += _comment("Required:")
    for key, (example, doc) in NODE_REQUIRED.items():
        lines += _comment(doc)
        lines.append(f"{key} = {_toml(example)}")
    lines += ["", *_comment("Optional (defaults):")]
    for key, (default, _, lo, hi, doc) in NODE_DEFAULTS.items():
        bounds = f"; range {lo}..{hi}" if lo is not None and hi is not None else ""
        lines += _comment(doc + bounds)
        prefix = "# " if key == "ready_min_peers" else ""
        lines.append(f"{prefix}{key} = {_toml(default)}")
    lines += ["", *_comment(
        "The validator set: one [[peers]] table per validator (this node may be listed too, "
        "under its own name and key). None is listed here: a lone node."),
        "# [[peers]]", '# name = "node1"', '# address = "tcp://127.0.0.1:7001"',
        '# public_key = "<64 hex: the peer\'s ed25519_public_key from mempool-fast keygen>"',
        ""]
    lines += _section("mempool", MempoolConfig) + [""]
    lines += _section("transport", ZmqSettings) + [""]
    return "\n".join(lines)

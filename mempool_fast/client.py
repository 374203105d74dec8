"""A client of a node's endpoint (see `mempool_fast.rpc` for the protocol).

One `NodeClient` owns one ZeroMQ DEALER socket, so it belongs to one thread. Calls are
synchronous (`submit`, `status`, `get_block`, `commit`, `stats`, `transaction_status`,
`account_status`, `inspect`); `send`/`receive` pipeline
several requests at once, which the load generator uses to keep a node busy.

A client speaks the transaction format of the node it talks to, given explicitly:
``NodeClient(endpoint)`` is the native format (``SignedTransaction``, 32-byte senders);
``NodeClient(endpoint, transaction_format=EthereumFormat(chain_id))`` (or any format with
``sender_length`` and ``decode``) submits that format's transactions or raw wire bytes, takes
and returns pointers with its senders (20 bytes for Ethereum) and decodes ``get_block``'s
transactions with it. Which format a node holds is in its ``stats()["transaction_format"]``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import zmq

from . import rpc
from .errors import RemoteError, RpcError, RpcTimeout
from .rpc import Op, TxnState
from .status import AccountStatus, TransactionStatus
from .types import MempoolAddTransactionStatus

if TYPE_CHECKING:
    from .rpc import WireFormat

__all__ = ["NodeClient", "RpcError", "RemoteError", "RpcTimeout", "TxnState"]

#: Seconds a synchronous call waits for its reply by default.
DEFAULT_TIMEOUT_S = 10.0


class NodeClient:
    """Talks to one node's client endpoint (``tcp://127.0.0.1:PORT``) or consensus endpoint.

    A tcp:// consensus endpoint needs CurveZMQ: `curve_seed` is the client's Ed25519 seed (its
    public key listed in the node's ``consensus_clients``) and `server_public_key` the node's
    Ed25519 public key.

    `transaction_format` is the node's transaction format (default: native); see the module
    docstring.
    """

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 context: zmq.Context[zmq.Socket[bytes]] | None = None, curve_seed: bytes | None = None,
                 server_public_key: bytes | None = None,
                 transaction_format: WireFormat | None = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        #: The node's transaction format: what submit sends, get_block returns, pointers hold.
        self.transaction_format: WireFormat = (rpc.NATIVE if transaction_format is None
                                               else transaction_format)
        #: Bytes of this format's senders (in pointers and account queries).
        self.sender_length: int = rpc.check_sender_length(self.transaction_format)
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.linger = 0
        if (curve_seed is None) != (server_public_key is None):
            raise ValueError("curve_seed and server_public_key go together")
        if curve_seed is not None and server_public_key is not None:  # both or neither
            from .network.zmq import curve_keypair_from_seed, curve_public_from_ed25519
            public, secret = curve_keypair_from_seed(curve_seed)
            self._sock.curve_publickey = public
            self._sock.curve_secretkey = secret
            self._sock.curve_serverkey = curve_public_from_ed25519(server_public_key)
        self._sock.connect(endpoint)
        self._ids = itertools.count(1)
        self._early: dict[int, rpc.Response] = {}

    # -- pipelined --
    def send(self, op: Op, body: object = None) -> int:
        """Send a request without waiting for its reply; returns its request id. RpcTimeout if
        it cannot even be queued within the timeout (no link to the node: e.g. refused)."""
        rid = next(self._ids) & 0xFFFFFFFF
        data = rpc.encode_request(op, rid, body, transaction_format=self.transaction_format)
        self._sock.sndtimeo = int(self.timeout * 1000)
        try:
            self._sock.send(data)
        except zmq.Again:
            raise RpcTimeout(f"cannot send to {self.endpoint} within {self.timeout} s") from None
        return rid

    def receive(self, timeout: float | None = None) -> rpc.Response:
        """The next response, whichever request it answers; RpcTimeout if none in time."""
        if self._early:
            return self._early.pop(next(iter(self._early)))
        timeout = self.timeout if timeout is None else timeout
        if not self._sock.poll(int(timeout * 1000)):
            raise RpcTimeout(f"no reply from {self.endpoint} within {timeout} s")
        return self._decode(self._sock.recv())

    def wait(self, rid: int, timeout: float | None = None) -> rpc.Response:
        """The response to request `rid` (others received meanwhile are kept for `receive`)."""
        if rid in self._early:
            return self._early.pop(rid)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000)):
                raise RpcTimeout(f"no reply from {self.endpoint} to request {rid}")
            resp = self._decode(self._sock.recv())
            if resp.request_id == rid:
                return resp
            self._early[resp.request_id] = resp

    def ready(self, rid: int) -> bool:
        """Whether the response to request `rid` has arrived (does not wait; responses to other
        requests read meanwhile are kept for `wait`/`receive`)."""
        while rid not in self._early and self._sock.poll(0):
            resp = self._decode(self._sock.recv())
            self._early[resp.request_id] = resp
        return rid in self._early

    def _decode(self, data: bytes) -> rpc.Response:
        return rpc.decode_response(data, transaction_format=self.transaction_format)

    def call(self, op: Op, body: object = None, timeout: float | None = None) -> object:
        """Send a request, wait for its reply, and return its body; RemoteError (an RpcError)
        on an error reply."""
        resp = self.wait(self.send(op, body), timeout)
        if not resp.ok:
            raise RemoteError(resp.body)  # an error reply's body is its message (str)
        return resp.body

    # -- the calls --
    # Each casts the body of an ok reply to what decode_response builds for that op
    # (rpc.Response.body).
    def submit(self, txns: Iterable[object]) -> list[MempoolAddTransactionStatus]:
        """Submit transactions of the client's format (objects with ``to_bytes()``, or their
        raw wire bytes); one status per transaction, in order. Bytes that do not decode in the
        node's format make the node refuse the whole request (RemoteError naming which)."""
        return cast("list[MempoolAddTransactionStatus]", self.call(Op.SUBMIT, list(txns)))

    def status(self, pointers: Iterable[tuple[bytes, int]]) -> list[TxnState]:
        """Where each (sender, sequence_number) stands on this node."""
        return cast("list[TxnState]", self.call(Op.STATUS, list(pointers)))

    def get_block(self, batch_size: int, exclude: Iterable[tuple[bytes, int]] = (),
                  max_bytes: int | None = None) -> list[Any]:
        """Consensus pull: up to `batch_size` ready transactions not in `exclude`, stopping
        before their summed wire size would exceed `max_bytes` (None: no limit; the first is
        returned whatever its size). A node older than max_bytes refuses it (trailing bytes).
        The transactions are the client's format's (``SignedTransaction`` by default)."""
        # Any: the format's transaction class (SignedTransaction for the default)
        if max_bytes is None:
            return cast("list[Any]", self.call(Op.GET_BLOCK, (batch_size, list(exclude))))
        return cast("list[Any]",
                    self.call(Op.GET_BLOCK, (batch_size, list(exclude), max_bytes)))

    def commit(self, committed: Iterable[tuple[bytes, int]], block_time: float,
               rejected: Iterable[tuple[bytes, int]] = ()) -> None:
        """Consensus commit: remove committed and rejected pointers, GC by `block_time`."""
        self.call(Op.COMMIT, (float(block_time), list(committed), list(rejected)))

    def stats(self) -> dict[str, Any]:
        """Mempool size, parking lot size, peers, transport counters... (a JSON object)."""
        return cast("dict[str, Any]", self.call(Op.STATS))  # JSON values: anything

    def transaction_status(
            self, keys: Iterable[bytes | tuple[bytes, int]]) -> list[TransactionStatus]:
        """Where each transaction stands on this node; each key is a 32-byte hash or a
        (sender, sequence_number) pointer (at most the node's client_max_transactions)."""
        if isinstance(keys, (bytes, bytearray, memoryview)) or (
                isinstance(keys, tuple) and len(keys) == 2 and isinstance(keys[1], int)):
            raise TypeError("keys is a list of keys (hashes or pointers), not one key")
        return cast("list[TransactionStatus]", self.call(Op.TXN_STATUS, list(keys)))

    def account_status(self, sender: bytes) -> AccountStatus:
        """An account's pending transactions on this node (ready, parked, what blocks them)."""
        return cast(AccountStatus, self.call(Op.ACCOUNT_STATUS, sender))

    def inspect(self) -> dict[str, Any]:
        """The node's SharedMempool.inspect(): pending counts, the status history's counts by
        state and reason, per-peer broadcast cursors and unacknowledged batches, index sizes."""
        return cast("dict[str, Any]", self.call(Op.INSPECT))  # JSON values: anything

    def close(self) -> None:
        self._sock.close(linger=0)
        if self._own_ctx:
            self._ctx.term()

    def __enter__(self) -> "NodeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

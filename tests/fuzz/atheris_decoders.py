"""Coverage-guided fuzzing of every decoder of outside bytes with atheris (optional tool).

    pip install atheris
    python tests/fuzz/atheris_decoders.py -runs=2000000          # or -max_total_time=300

The first input byte picks the decoder (transaction, peer message, RPC request, RPC response);
anything but the decoder's documented error escaping is a crash that atheris reports with
the input that caused it. Not collected by pytest (tests/test_fuzz.py runs the hypothesis
variants in CI).
"""

import sys

import atheris

with atheris.instrument_imports():
    from mempool_fast import MalformedMessage, MalformedTransaction, SignedTransaction
    from mempool_fast import rpc
    from mempool_fast.messages import BroadcastRequest, decode, encode


def one_input(data: bytes) -> None:
    if not data:
        return
    which, body = data[0] % 4, data[1:]
    try:
        if which == 0:
            txn = SignedTransaction.from_bytes(body)
            assert txn.to_bytes() == body
        elif which == 1:
            message = decode(body)
            assert encode(message) == body
            if isinstance(message, BroadcastRequest):
                message.transactions()
        elif which == 2:
            rpc.decode_request(body)
        else:
            rpc.decode_response(body)
    except (MalformedTransaction, MalformedMessage):
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

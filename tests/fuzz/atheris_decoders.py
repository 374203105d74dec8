"""Coverage-guided fuzzing of every decoder of outside bytes with atheris (optional tool).

    pip install atheris
    python tests/fuzz/atheris_decoders.py -max_total_time=300 -print_final_stats=1
    python tests/fuzz/atheris_decoders.py CRASH_FILE          # replay one reported input

The first input byte picks the decoder (transaction, peer message, RPC request, RPC response);
the rest is checked by the same properties as tests/test_fuzz.py: either a value that
re-encodes consistently or the decoder's documented error (MalformedTransaction,
MalformedMessage, RpcError). Anything else escaping, a failed assertion included, is a crash
that atheris reports with the input that caused it. The corpus starts from the valid encodings
test_fuzz.py mutates when a corpus directory is given (`python ... CORPUS_DIR`, created and
seeded if empty). Not collected by pytest (its name does not start with `test_`).
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    import mempool_fast.shared.protocol  # noqa: F401
    import mempool_fast.rpc  # noqa: F401
    import mempool_fast.transaction  # noqa: F401

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from test_fuzz import CHECKS, SAMPLES  # noqa: E402  (after instrumenting the decoders)

KINDS = sorted(CHECKS)


def one_input(data: bytes) -> None:
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    check, error = CHECKS[kind]
    try:
        check(data[1:])
    except error:
        pass


def seed_corpus(directory: str) -> None:
    """Write each valid encoding, prefixed by its decoder's byte, into an empty corpus."""
    os.makedirs(directory, exist_ok=True)
    if os.listdir(directory):
        return
    for k, kind in enumerate(KINDS):
        for i, sample in enumerate(SAMPLES[kind]):
            with open(os.path.join(directory, f"{kind}-{i}"), "wb") as f:
                f.write(bytes([k]) + sample.data)


if __name__ == "__main__":
    dirs = [a for a in sys.argv[1:] if not a.startswith("-") and not os.path.isfile(a)]
    for directory in dirs:
        seed_corpus(directory)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

# The transaction wire layout for the Cython modules; mempool_fast/_wire.py holds the same
# numbers for Python, and each extension checks at import that the two agree.

cdef enum:
    MF_ADDRESS_LEN = 32
    MF_PUBLIC_KEY_LEN = 32
    MF_SIGNATURE_LEN = 64
    MF_PREFIX_LEN = 32          # SHA3-256 domain prefix in front of every signed message
    MF_RAW_HEADER_LEN = 68      # sender | seq | max_gas | gas_price | expiration | payload_len
    MF_WIRE_TAIL_LEN = 96       # public key | signature at the end of the wire form
    MF_MIN_WIRE_LEN = 164
    MF_SEQ_OFFSET = 32
    MF_MAX_GAS_OFFSET = 40
    MF_PRICE_OFFSET = 48
    MF_EXPIRATION_OFFSET = 56
    MF_PAYLOAD_LEN_OFFSET = 64

"""Transports between validators: the interface, in-process (tests) and ZeroMQ (real)."""

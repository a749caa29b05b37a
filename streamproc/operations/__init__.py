"""Pure logic of the operator commands (``streamproc replay``, ``streamproc dlq``): offset
planning, time and duration parsing, audit records. No I/O: the runtime reads the broker and the
CLI prints; everything here is unit-tested with plain values."""

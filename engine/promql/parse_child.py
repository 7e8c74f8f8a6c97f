"""The parser's sacrificial process: parses what it is sent and says it survived.

Run as a script (``python -I parse_child.py MEMORY_BYTES``), not imported: it needs nothing but
the standard library and ``promql_parser``, so it starts fast and small. Each request on stdin is
a 4-byte big-endian length and that many bytes of UTF-8 (surrogates passed through); the answer
on stdout is one byte once ``promql_parser.parse`` has returned or raised. A crash or an
allocation failure under the memory limit ends the process instead, which the server sees as EOF.
"""

from __future__ import annotations

import resource
import sys

import promql_parser

SURVIVED = b"\n"


def _read_exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    return data if data is not None and len(data) == size else b""


def main() -> None:
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while header := _read_exactly(requests, 4):
        text = _read_exactly(requests, int.from_bytes(header, "big")).decode("utf-8", "surrogatepass")
        try:
            promql_parser.parse(text)
        except Exception:  # a syntax error is an answer too: the server parses again for the message
            pass
        answers.write(SURVIVED)
        answers.flush()


if __name__ == "__main__":
    main()

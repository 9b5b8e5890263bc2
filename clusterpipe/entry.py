"""The console script: Ctrl-C while the command line loads is a quiet exit 1 (once the command
has ended, it is ignored), and an argument that is not valid UTF-8 (a file name in another
encoding) a one-line error, before any of it reaches OpenCV or FAISS, which cannot open such a
name."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """Console-script entry point."""
    try:
        from .errors import not_utf8

        for arg in sys.argv[1:]:
            shown = not_utf8(arg)
            if shown is not None:
                sys.stderr.write(
                    f"Error: {shown}: not valid UTF-8; rename it (OpenCV and FAISS cannot open "
                    "such a name)\n"
                )
                raise SystemExit(2)
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise SystemExit(1) from None
    try:
        cli_main()
    finally:
        # The command has ended, its summary said and its exit code set: a Ctrl-C now would
        # only turn that code into 130 while Python shuts down.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

"""The console script: Ctrl-C while the command line loads is a quiet exit 1, and an argument
that is not valid UTF-8 (a file name in another encoding) a one-line error, before any of it
reaches OpenCV or FAISS, which cannot open such a name."""

from __future__ import annotations

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
    cli_main()

"""The click group: logging set-up and the mapping of errors to exit codes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import click

from .. import __version__
from ..errors import ClusterpipeError

# FFmpeg's own log lines ("moov atom not found") would duplicate our one-line errors.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
log = logging.getLogger("clusterpipe")
DEBUG = os.environ.get("CLUSTERPIPE_DEBUG") == "1"


def one_line(text: object) -> str:
    """A message on one line."""
    return " ".join(str(text).split())


class _Group(click.Group):
    """Maps errors to exit codes: ClusterpipeError 2, Ctrl-C 1; tracebacks only when debugging."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            more = ""
            if ctx.invoked_subcommand == "run":
                more = "; finished shards are kept, run the same command again to resume"
            elif ctx.invoked_subcommand == "review":
                more = "; every change is already in the folders"
            click.echo(f"Interrupted{more}.", err=True)
            ctx.exit(1)
        except (ClusterpipeError, OSError) as e:
            if DEBUG:
                raise
            click.echo(f"Error: {one_line(e)}", err=True)
            ctx.exit(2)
        except Exception as e:
            if DEBUG:
                raise
            click.echo(
                f"Error: unexpected {type(e).__name__}: {one_line(e)} (run with "
                "CLUSTERPIPE_DEBUG=1 for the traceback and report it)",
                err=True,
            )
            ctx.exit(3)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


@contextlib.contextmanager
def progress_logging():
    """Log lines that do not tear tqdm's bars."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[log]):
        yield


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clusterpipe")
@click.option("-v", "--verbose", count=True, help="More log output (debug details).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Turn video footage into folders of faces, one folder per person.

    Set CLUSTERPIPE_DEBUG=1 to see tracebacks. Exit codes: 0 ok, 1 interrupted, 2 bad input
    or state (the message says what to do), 3 internal error.
    """
    _setup_logging(verbose, quiet)

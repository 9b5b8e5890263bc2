"""The click group: logging set-up and the mapping of errors to exit codes."""

from __future__ import annotations

import contextlib
import errno
import functools
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


# An OSError from these is the machine's or the user's state (a full disk, no permission, a
# path that vanished): exit 2 with its message. Any other is a bug: exit 3.
USER_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOTEMPTY,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EMFILE,
    errno.ENFILE,
    errno.EXDEV,
    errno.EBUSY,
    errno.EIO,
    errno.ENOMEM,
}


_INTERRUPTED: dict[str, str] = {}  # command name -> what an interruption leaves behind


def on_interrupt(message: str):
    """A command's decorator: what to tell the user when Ctrl-C stops it."""

    def remember(command: click.Command) -> click.Command:
        _INTERRUPTED[command.name or ""] = message
        return command

    return remember


class _UsageError(click.UsageError):
    """click's usage error on one line, with where to find help."""

    def __init__(self, e: click.UsageError) -> None:
        super().__init__(e.format_message(), e.ctx)

    def show(self, file=None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {one_line(self.message)}{where}", err=True)


# click's "no arguments: show the help" travels as a usage error (8.2+): the help, not one line.
_SHOW_HELP: tuple[type[Exception], ...] = tuple(
    e for e in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if e is not None
)


_VERBOSE = "More log output (debug details)."
_QUIET = "Only warnings and errors: no progress bars, no info lines."


def _log_options(command: click.Command) -> click.Command:
    """-v and -q on a command too (`clusterpipe run x.mp4 -q`), as on the group."""
    callback = command.callback
    if callback is None:
        return command

    @functools.wraps(callback)
    def run(*args, verbose: int = 0, quiet: bool = False, **kwargs):
        if verbose or quiet:
            _setup_logging(verbose, quiet)
        return callback(*args, **kwargs)

    command.callback = run
    command.params += [
        click.Option(["-v", "--verbose"], count=True, help=_VERBOSE),
        click.Option(["-q", "--quiet"], is_flag=True, help=_QUIET),
    ]
    return command


class _Group(click.Group):
    """Maps errors to exit codes: ClusterpipeError and the user's OSErrors 2, Ctrl-C 1, a bug 3;
    tracebacks only when debugging. Usage errors are one line, like every other error. Every
    command also takes -v and -q."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(_log_options(cmd), name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _SHOW_HELP:
            raise
        except click.UsageError as e:
            raise _UsageError(e) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            if isinstance(e, (_UsageError, *_SHOW_HELP)):
                raise
            raise _UsageError(e) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other command-line tools do.
            with contextlib.suppress(OSError, ValueError):  # no real stdout (tests)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except KeyboardInterrupt:
            more = _INTERRUPTED.get(ctx.invoked_subcommand or "", "")
            click.echo(f"Interrupted{'; ' + more if more else ''}.", err=True)
            ctx.exit(1)
        except Exception as e:
            if DEBUG:
                raise
            if isinstance(e, ClusterpipeError) or (
                isinstance(e, OSError) and (e.errno is None or e.errno in USER_ERRNOS)
            ):
                click.echo(f"Error: {one_line(e)}", err=True)
                ctx.exit(2)
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


def quiet() -> bool:
    """Whether -q was given (on the group or the command): progress bars stay hidden too."""
    return log.getEffectiveLevel() > logging.INFO


@contextlib.contextmanager
def progress_logging():
    """Log lines that do not tear tqdm's bars."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[log]):
        yield


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clusterpipe")
@click.option("-v", "--verbose", count=True, help=_VERBOSE)
@click.option("-q", "--quiet", is_flag=True, help=_QUIET)
def cli(verbose: int, quiet: bool) -> None:
    """Turn video footage into folders of faces, one folder per person.

    Set CLUSTERPIPE_DEBUG=1 to see tracebacks. Exit codes: 0 ok, 1 interrupted, 2 bad input
    or state (the message says what to do), 3 internal error.
    """
    _setup_logging(verbose, quiet)

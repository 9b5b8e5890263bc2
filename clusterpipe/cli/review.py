"""`review`: the local review page over a run's folders."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli, on_interrupt


def _key() -> str:
    """The user's answer to a question; the end of the input is q."""
    while True:
        try:
            key = input("same person? [s]ame [d]ifferent [k]skip [u]ndo [q]uit: ")
        except EOFError:
            click.echo()
            return "q"
        if key.strip().lower() in ("s", "d", "k", "u", "q"):
            return key.strip().lower()
        click.echo("Answer s, d, k, u or q.")


@on_interrupt("every change is already in the folders")
@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (the page is never served to other machines); 0 picks a free one.",
)
@click.option("--no-browser", is_flag=True, help="Print the page's address, do not open it.")
def review(out, port, no_browser) -> None:
    """Review the faces of OUT in your browser: rename, merge, split, move, reject, undo.

    Every action moves files under OUT/clusters (rejected faces go to OUT/rejected, from where
    they can be moved back), so status, promote and export see the same state. The first line
    printed is the page's address with its access token. Stop with Ctrl-C.

    \b
    Example:
      clusterpipe review footage_out
    """
    import webbrowser

    from ..review import ReviewServer

    server = ReviewServer(out, port)
    click.echo(f"Review at {server.url}")
    click.echo("Stop with Ctrl-C; every change is already in the folders.", err=True)
    if not no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.stop()


def _retry_busy(call, busy: type[Exception], tries: int = 5):
    """call(), again while another command holds OUT (each try waits for its lock)."""
    for _ in range(tries - 1):
        try:
            return call()
        except busy:
            click.echo("OUT is in use by another clusterpipe command; waiting for it.", err=True)
    return call()


@on_interrupt("every answer given is already in the folders")
@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--max", "limit", type=click.IntRange(1), default=None, help="Stop after this many answers."
)
def ask(out, limit) -> None:
    """Answer "same person?" questions about OUT's folders in the terminal.

    Each question shows two sides as crop paths (open them in any image viewer): two folders
    that may be one person, a folder that may hold two, or a noise face that may be someone.
    Answer s (same), d (different), k (skip), u (undo the last answer) or q (quit). Every answer
    moves the files at once and is remembered in OUT/corrections.json, so later split,
    recluster and run obey it; the review page asks the same questions.

    \b
    Example:
      clusterpipe ask footage_out
    """
    import sys

    from ..errors import BusyError, ClusterpipeError, InputError
    from ..review.answers import answer, question
    from ..review.state import Review

    if sys.stdin is None or sys.stdout is None:
        raise InputError("ask reads answers from stdin and shows questions on stdout: open both")
    review = Review(out)
    answered = 0
    refused = None  # the question last refused: refused again, the session ends
    while limit is None or answered < limit:
        q = _retry_busy(lambda: question(review), BusyError)
        if not q["id"]:
            click.echo("Nothing left worth asking: the folders look clean.")
            break
        click.echo(f"\n{q['why']}")
        for label, side in (("A", q["a"]), ("B", q["b"])):
            name = side["folder"] or "these faces"
            paths = [str(review.crop(i) or i) for i in side["faces"]]
            click.echo(f"  {label} ({name}): " + "  ".join(paths))
        key = _key()
        if key == "q":
            break
        if key == "u":
            try:
                review.undo()
                answered = max(0, answered - 1)  # that answer no longer counts
            except ClusterpipeError as e:
                click.echo(str(e))
            continue
        try:
            answer(review, q["id"], {"s": "same", "d": "different", "k": "skip"}[key])
        except ClusterpipeError as e:  # the folders changed meanwhile, or OUT is busy
            if refused == q["id"]:  # twice: asking again cannot help (a file in the way...)
                raise
            refused = q["id"]
            click.echo(f"Not applied: {e}; asking again.")
            continue
        refused = None
        answered += key != "k"
    click.echo(f"{answered} answers; every change is already in the folders.")

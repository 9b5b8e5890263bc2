"""`review`: the local review page over a run's folders."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli


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
        server.server_close()

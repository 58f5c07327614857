"""Profile one console page on a benchmark database and print where its time goes.

    python -m bench.profile /payments                # 300k payments, 20k customers
    python -m bench.profile / --payments 5000000 --customers 100000 --repeat 50

The page is fetched ``--repeat`` times under pyinstrument (after a warm-up), as the benchmark
fetches it: a signed-in admin, Korean, CSRF on, the data's clock.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .data import ensure_database
from .pages import console_client


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("url", help="the page, e.g. /payments or /customers/12")
    parser.add_argument("--payments", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--text", action="store_true", help="the full call tree, not the top")
    parser.add_argument("--top", type=int, default=15, help="functions to list by own time")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    data = ensure_database(args.payments, args.customers, seed=args.seed)
    if args.database_url:
        from .postgres import ensure_postgres

        data = ensure_postgres(data, args.database_url)
    pages = console_client(data)
    for _ in range(3):
        pages.get(args.url)
    profiler = Profiler(interval=0.001)
    profiler.start()
    for _ in range(args.repeat):
        pages.get(args.url)
    profiler.stop()
    session = profiler.last_session
    if args.text:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"{args.url}: {session.duration / args.repeat * 1000:.2f} ms wall and "
          f"{session.cpu_time / args.repeat * 1000:.2f} ms CPU per request (under the "
          f"profiler); top functions by own time:")
    for seconds, where in top_functions(session.root_frame(), args.top):
        print(f"  {seconds / session.duration * 100:5.1f}%  {where}")
    return 0


def top_functions(root, count: int):
    """Return (own seconds, 'function  file:line') of the functions that spent most time."""
    own: dict[str, float] = {}

    def walk(frame):
        if frame is None:
            return
        key = f"{frame.function}  {short_path(frame.file_path or '')}:{frame.line_no}"
        children = [child for child in frame.children if not child.is_synthetic]
        own[key] = own.get(key, 0.0) + frame.time - sum(child.time for child in children)
        for child in children:
            walk(child)

    walk(root)
    return sorted(((seconds, key) for key, seconds in own.items()), reverse=True)[:count]


REPOSITORY = str(Path(__file__).resolve().parent.parent) + "/"


def short_path(path: str) -> str:
    """Return ``path`` from the package or repository it belongs to."""
    for marker in ("site-packages/", REPOSITORY, "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


if __name__ == "__main__":
    sys.exit(main())

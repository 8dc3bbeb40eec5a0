"""The `dpiqa` command: what users run outside the pipeline."""

from __future__ import annotations

import argparse

from dpiqa.data.cards import cards
from dpiqa.runtime import run


def list_datasets(_: argparse.Namespace) -> None:
    for card in cards().values():
        scale = f"{card.mos_range[0]:g}-{card.mos_range[1]:g}" if card.mos_range else "params"
        count = card.expected_count or "-"
        print(f"{card.key:10} {card.source:9} {count!s:>6} images  MOS {scale:7} {card.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpiqa", description=__doc__)
    commands = parser.add_subparsers(required=True, dest="command")
    commands.add_parser("datasets", help="list the known datasets").set_defaults(func=list_datasets)
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    run(lambda: arguments.func(arguments))

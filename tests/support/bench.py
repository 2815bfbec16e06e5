"""Printing benchmark figures."""

from __future__ import annotations


def report(title: str, rows: dict) -> None:
    width = max(len(k) for k in rows)
    print(f"\n== {title}")
    for k, v in rows.items():
        print(f"   {k:<{width}}  {v}")

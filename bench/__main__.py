"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, print their ratios."""

from __future__ import annotations

import argparse
import importlib
import time
from types import ModuleType

from bench._common import (
    Comparison,
    Figure,
    console,
    figure_line,
    print_comparisons,
    print_figures,
    ratio_line,
)

# Cheapest first, so a smoke run fails fast.
MODULES = (
    "bench.bench_tokens",
    "bench.bench_destinations",
    "bench.bench_sync",
    "bench.bench_speed",
)


def load() -> dict[str, ModuleType]:
    modules = [importlib.import_module(name) for name in MODULES]
    return {module.NAME: module for module in modules}


def main(argv: list[str] | None = None) -> None:
    benches = load()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--only", nargs="+", choices=sorted(benches), help="run only these")
    args = parser.parse_args(argv)
    results: list[Comparison | Figure] = []
    started = time.perf_counter()
    for name, module in benches.items():
        if args.only and name not in args.only:
            continue
        began = time.perf_counter()
        found = module.run(quick=args.quick)
        title = f"{name} ({time.perf_counter() - began:.1f} s)"
        comparisons = [item for item in found if isinstance(item, Comparison)]
        figures = [item for item in found if isinstance(item, Figure)]
        if comparisons:
            print_comparisons(title, comparisons)
        if figures:
            print_figures(title, figures)
        console.print()
        results.extend(found)
    console.rule(
        f"summary ({time.perf_counter() - started:.0f} s{', quick' if args.quick else ''})"
    )
    for item in results:
        print(ratio_line(item) if isinstance(item, Comparison) else figure_line(item), flush=True)


if __name__ == "__main__":
    main()

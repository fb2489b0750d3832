"""How fast and how right the `--model auto` rules are.

Runs the local router (no model call) over the labelled questions in
``bench/data/router_questions.jsonl`` — each with the tier of model it deserves
(light, standard, heavy), the reason a person would give, and optionally the thread's
depth — and prints the decision time (µs, median and p99 over every call), tier,
model and reason accuracy, a confusion table of tiers, and every miss.

    python bench/router.py [--repeat 200] [--config reasonbot.toml]

The model accuracy is against the catalogue's `auto` candidates: with the built-in two
(mini, o1) light questions should go to mini and the rest to o1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Catalogue, load_catalogue
from bot.router import Router, Tier

DATA = ROOT / "bench" / "data" / "router_questions.jsonl"


def load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per question")
    parser.add_argument("--config", type=Path, help="a catalogue TOML (default: built-in)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    catalogue = load_catalogue(args.config) if args.config else Catalogue()
    router = Router.for_catalogue(catalogue)
    items = load(args.data)
    tiers = [t.name.lower() for t in Tier]

    samples: list[float] = []
    typical: list[float] = []  # per question, the median of its calls
    confusion: Counter[tuple[str, str]] = Counter()
    right_tier = right_model = right_reason = 0
    misses: list[str] = []
    for item in items:
        question, depth = str(item["question"]), int(item.get("history_depth", 0))  # type: ignore[call-overload]
        for _ in range(args.repeat):
            started = time.perf_counter_ns()
            choice = router.choose(question, history_depth=depth)
            samples.append((time.perf_counter_ns() - started) / 1000)
        typical.append(statistics.median(samples[-args.repeat :]))
        expected, got = str(item["tier"]), choice.tier.name.lower()
        confusion[expected, got] += 1
        want_model = router.candidates[
            {"light": 0, "standard": len(router.candidates) // 2}.get(
                expected, len(router.candidates) - 1
            )
        ]
        right_tier += expected == got
        right_model += want_model == choice.alias
        right_reason += item["reason"] == choice.reason
        if expected != got or item["reason"] != choice.reason:
            shown = question.replace("\n", " ")[:60]
            misses.append(
                f"  {expected}/{item['reason']} → {got}/{choice.reason} ({choice.alias}): {shown}"
            )

    n = len(items)
    print(f"router: {n} questions, candidates {', '.join(router.candidates)}")
    print(
        f"decision time: median {statistics.median(samples):.1f} µs, "
        f"p99 {percentile(samples, 0.99):.1f} µs over {len(samples):,} calls"
    )
    # The p99 of single calls includes the scheduler preempting us on a busy machine;
    # the slowest question's median shows what the rules themselves cost.
    print(
        f"per question (median of its calls): median {statistics.median(typical):.1f} µs, "
        f"slowest {max(typical):.1f} µs"
    )
    print(f"tier accuracy:   {right_tier}/{n} ({right_tier / n:.0%})")
    print(f"model accuracy:  {right_model}/{n} ({right_model / n:.0%})")
    print(f"reason accuracy: {right_reason}/{n} ({right_reason / n:.0%})")
    print("\nconfusion (rows: labelled tier, columns: chosen tier)")
    print(f"{'':>10}" + "".join(f"{t:>10}" for t in tiers))
    for row in tiers:
        print(f"{row:>10}" + "".join(f"{confusion[row, col]:>10}" for col in tiers))
    chosen = Counter(router.choose(str(i["question"])).alias for i in items)
    print("\nchosen models (without thread depth):", dict(chosen))
    if misses:
        print(f"\nmisses ({len(misses)}):")
        print("\n".join(misses))


if __name__ == "__main__":
    main()

"""Fuzz the spec compiler for as long as you like: mutated example specs must compile or raise SpecError.

    python scripts/fuzz_specs.py --minutes 30          # from the checkout, with dnnc importable
    python scripts/fuzz_specs.py --minutes 5 --chunk 500 --seed 1

The property and the mutations are those of tests/compiler/test_fuzz_specs.py (tests/support/spec_fuzz.py);
here Hypothesis runs them in chunks of --chunk examples with fresh random seeds until the time is up.
A failure is shrunk to a small example and recorded by its signature (the exception type and the dnnc
line that raised it), and the run goes on.  At the end the script prints the number of cases compiled,
how many were valid and refused, and each distinct failure with its smallest example; it exits with
status 1 if there was any failure.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from support.spec_fuzz import check_case, data_cases, text_cases  # noqa: E402

COUNTS: Counter[str] = Counter()


def signature(exc: BaseException) -> str:
    """The exception type and the innermost dnnc frame of the error behind a failed check."""
    cause = exc.__cause__ or exc
    frames = [f for f in traceback.extract_tb(cause.__traceback__) if "/dnnc/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(cause).__name__} at {where}"


def run_chunk(examples: int, chunk_seed: int, shrink: bool) -> None:
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)

    @seed(chunk_seed)  # a fresh, reproducible seed per chunk
    @settings(max_examples=examples, deadline=None, database=None, phases=phases,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(data_cases(), text_cases().map(lambda c: [c])))
    def prop(cases):
        for case in cases:
            COUNTS[check_case(case)] += 1

    prop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="How long to run (default 10).")
    parser.add_argument("--chunk", type=int, default=2000, help="Examples per Hypothesis run (default 2000).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first chunk; chunk k uses seed + k.")
    parser.add_argument("--no-shrink", action="store_true", help="Report failures unshrunk (faster).")
    args = parser.parse_args()

    failures: dict[str, tuple[int, str]] = {}
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    chunk = 0
    while time.monotonic() < deadline:
        try:
            run_chunk(args.chunk, args.seed + chunk, not args.no_shrink)
        except Exception as exc:  # a falsified property: record it and go on
            sig = signature(exc)
            seen, example = failures.get(sig, (0, ""))
            message = str(exc)
            failures[sig] = (seen + 1, message if not example or len(message) < len(example) else example)
            COUNTS["failed"] += 1
        chunk += 1
        elapsed = time.monotonic() - started
        total = sum(COUNTS[k] for k in ("valid", "refused"))
        print(f"[{elapsed / 60:5.1f} min] chunk {chunk}: {total:,} cases compiled ({COUNTS['valid']:,} valid, "
              f"{COUNTS['refused']:,} refused), {len(failures)} distinct failures", flush=True)

    total = sum(COUNTS[k] for k in ("valid", "refused"))
    print(f"\n{total:,} cases compiled in {(time.monotonic() - started) / 60:.1f} min: {COUNTS['valid']:,} valid, "
          f"{COUNTS['refused']:,} refused with a SpecError; {COUNTS['failed']} failing chunks, "
          f"{len(failures)} distinct failures")
    for sig, (seen, example) in failures.items():
        print(f"\n=== {sig} ({seen} chunk{'s' if seen != 1 else ''})\n{example[:3000]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

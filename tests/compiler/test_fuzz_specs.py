"""Property: any mutation of an example spec compiles, or is refused with dnnc's located SpecError.

Never another exception ("internal error"), never an issue without its place.  The mutations
(tests/support/spec_fuzz.py) change keys, values, types and structure of the parsed data — compiled as
a dict, as JSON text and as TOML text — and edit the text of the files themselves.  This bounded run
takes well under a minute; `python scripts/fuzz_specs.py --minutes 30` runs the same property for as
long as you like and prints the distinct failures it finds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from support.spec_fuzz import Case, check_case, data_cases, text_cases

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data_cases())
def test_mutated_spec_data_compiles_or_is_refused_with_a_spec_error(cases: list[Case]):
    for case in cases:
        check_case(case)


@FUZZ
@given(text_cases())
def test_mutated_spec_text_compiles_or_is_refused_with_a_spec_error(case: Case):
    check_case(case)

"""The suite runs as one pytest session over tests/ (rootdir-relative, no packages).

Two test files with the same basename make pytest refuse to collect the second
one ("import file mismatch"), which turns the whole `make test` red even though
each file passes alone.  Catch that here, in seconds, instead of in CI.
"""

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]
# What pytest collects (tests/output holds ansible-test's virtualenvs, which pytest never collects:
# it skips virtualenvs); testbed/tests holds the tests of the testbed itself.
SUITES = (TESTS / "unit", TESTS / "integration", TESTS / "sanity", TESTS.parent / "testbed" / "tests")


def test_test_file_basenames_are_unique():
    seen = collections.defaultdict(list)
    for path in (p for suite in SUITES for p in suite.rglob("test_*.py")):
        if "__pycache__" in path.parts:
            continue
        seen[path.name].append(str(path.relative_to(TESTS.parent)))
    duplicates = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not duplicates, "test files sharing a basename: %s" % duplicates

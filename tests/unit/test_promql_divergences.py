"""Where round 1 answered differently from Prometheus 3: label names from strings with byte
escapes, regexes with inline flags inside them, parse error positions."""

from __future__ import annotations

import pytest
from test_promql_support import engine_factory, instant

from engine.promql import QueryError


@pytest.fixture
def make_engine(tmp_path):
    yield from engine_factory(tmp_path)


def test_a_destination_label_name_that_is_not_utf8_is_refused(make_engine):
    e = make_engine({'m{src="a"}': "1"})
    # Go reads "\xff" as the byte 0xff: not UTF-8, so not a label name.
    for expr in (r'label_replace(m, "\xff", "v", "src", "(.*)")', r'label_join(m, "\377", ",", "src")'):
        with pytest.raises(QueryError, match="invalid destination label name in label_(replace|join)\\(\\): \ufffd"):
            e.instant(expr, 0)
    # "\u00ff" is the character ÿ, a valid UTF-8 label name in Prometheus 3.
    assert instant(e, r'label_replace(m, "\u00ff", "v", "src", "(.*)")', 0) == {'m{src="a", ÿ="v"}': 1}
    assert instant(e, 'label_replace(m, "ÿ", "w", "src", "(.*)")', 0) == {'m{src="a", ÿ="w"}': 1}

import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk_tracker_core import changed_fields, diff_rows, snapshot, values_equal


class Unorderable:
    def __eq__(self, other):
        raise TypeError("no comparison")

    __hash__ = object.__hash__


NAIVE = dt.datetime(2024, 1, 1, 12, 0)
AWARE = NAIVE.replace(tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1.0),
        (1, Decimal(1)),
        (1.0, Decimal(1)),
        (Decimal("1.00"), 1),
        (True, 1),
        (0.1, Decimal("0.1")),
        (Decimal("0.1"), 0.1),
        (memoryview(b"abc"), b"abc"),
        (b"abc", memoryview(b"abc")),
        (float("nan"), float("nan")),
        (Decimal("NaN"), Decimal("NaN")),
        (float("nan"), Decimal("NaN")),
        (Decimal("sNaN"), float("nan")),
        (None, None),
        ([1, {"a": None}], [1, {"a": None}]),
        (AWARE, AWARE.astimezone(dt.timezone(dt.timedelta(hours=2)))),
    ],
)
def test_not_a_change(old, new):
    assert values_equal(old, new)
    assert changed_fields({"f": old}, {"f": new}) == {}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (float("nan"), 1.0),
        (1.0, float("nan")),
        (Decimal("NaN"), Decimal(1)),
        (None, ""),
        ("", None),
        (None, []),
        (None, {}),
        ({}, None),
        (None, 0),
        (NAIVE, AWARE),
        (AWARE, NAIVE),
        (0.1, Decimal("0.10000000000000001")),
        (Decimal("0.2"), 0.1),
        (Unorderable(), 1),
        (1, Unorderable()),
        ("1", 1),
    ],
)
def test_a_change(old, new):
    assert not values_equal(old, new)
    assert list(changed_fields({"f": old}, {"f": new})) == ["f"]


def test_reported_value_is_the_old_one():
    assert changed_fields({"f": None, "g": NAIVE}, {"f": "", "g": AWARE}) == {"f": None, "g": NAIVE}


def test_mutable_old_values_are_snapshots():
    old = {"tags": ["a"], "meta": {"k": [1]}}
    new = {"tags": ["b"], "meta": {"k": [2]}}
    changes = changed_fields(old, new)
    old["tags"].append("x")
    old["meta"]["k"].append(9)
    new["tags"].append("y")
    assert changes == {"tags": ["a"], "meta": {"k": [1]}}


def test_memoryview_old_value_is_copied():
    buffer = bytearray(b"abc")
    changes = changed_fields({"f": memoryview(buffer)}, {"f": b"xyz"})
    buffer[0:3] = b"zzz"
    assert isinstance(changes["f"], memoryview)
    assert changes["f"] == b"abc"


def test_changed_fields_restricted_by_fields():
    old = {"a": 1, "b": 2, "c": 3}
    new = {"a": 10, "b": 20, "c": 30}
    assert changed_fields(old, new, ["a", "c"]) == {"a": 1, "c": 3}
    assert changed_fields(old, new, []) == {}


def test_fields_missing_from_new_are_not_compared():
    assert changed_fields({"a": 1, "b": 2}, {"b": 3}) == {"b": 2}
    assert changed_fields({"a": 1}, {"b": 3}, ["a"]) == {}


def test_diff_rows_leaves_out_unchanged_and_one_sided_rows():
    old_rows = {1: {"n": 1}, 2: {"n": 2}, 3: {"n": 3}}
    new_rows = {1: {"n": 1}, 2: {"n": 20}, 4: {"n": 4}}
    assert diff_rows(old_rows, new_rows) == {2: {"n": 2}}


def test_diff_rows_fields_iterable_is_used_for_every_row():
    old_rows = {1: {"a": 1, "b": 1}, 2: {"a": 2, "b": 2}}
    new_rows = {1: {"a": 0, "b": 0}, 2: {"a": 0, "b": 0}}
    assert diff_rows(old_rows, new_rows, (name for name in ["a"])) == {1: {"a": 1}, 2: {"a": 2}}


def test_diff_rows_empty_new_row_reports_nothing():
    assert diff_rows({1: {"a": 1}}, {1: {}}) == {}


def test_snapshot_immutables_are_returned_as_is():
    moment = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    values = ["s", b"b", 1, 1.5, 1j, True, Decimal(1), None, frozenset({1}), (1, 2), uuid.UUID(int=7)]
    for value in [*values, moment, moment.date(), moment.timetz(), dt.timedelta(1), dt.timezone.utc]:
        assert snapshot(value) is value


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text("ab\u00e9\U0001f600", max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text("abc", max_size=3), children, max_size=3),
    max_leaves=10,
)
scalar = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_infinity=False)
    | st.decimals(allow_infinity=False, places=2, min_value=-3, max_value=3)
    | st.sampled_from([Decimal("NaN"), "", "a", NAIVE, AWARE])
    | json_like
)
field_names = st.sampled_from(["a", "b", "c", "d"])
rows = st.dictionaries(field_names, scalar, max_size=4)


@given(rows)
def test_row_diffed_with_itself_is_empty(row):
    assert changed_fields(row, dict(row)) == {}
    assert diff_rows({1: row}, {1: dict(row)}) == {}


@given(rows, rows)
def test_reported_old_values_reproduce_the_old_row(old, new):
    changes = changed_fields(old, new)
    compared = old.keys() & new.keys()
    assert changes.keys() <= compared
    for name, value in changes.items():
        assert values_equal(value, old[name])
        assert not values_equal(old[name], new[name])
    for name in compared - changes.keys():
        assert values_equal(old[name], new[name])
    restored = {**new, **changes}
    assert all(values_equal(restored[name], old[name]) for name in compared)


@given(st.dictionaries(st.integers(0, 5), rows, max_size=4), st.dictionaries(st.integers(0, 5), rows, max_size=4))
def test_diff_rows_matches_changed_fields_per_common_key(old_rows, new_rows):
    result = diff_rows(old_rows, new_rows)
    assert result.keys() <= old_rows.keys() & new_rows.keys()
    for key in old_rows.keys() & new_rows.keys():
        assert result.get(key, {}) == changed_fields(old_rows[key], new_rows[key])


@given(json_like)
def test_snapshot_of_json_like_data(value):
    copied = snapshot(value)
    assert copied == value
    if isinstance(value, (list, dict)):
        assert copied is not value


@given(st.floats() | st.decimals())
def test_nan_only_equals_nan(value):
    is_nan = value.is_nan() if isinstance(value, Decimal) else math.isnan(value)
    assert values_equal(value, float("nan")) is is_nan
    assert values_equal(Decimal("NaN"), value) is is_nan
    assert values_equal(value, value)
    assert values_equal(value, 0) is (not is_nan and value == 0)

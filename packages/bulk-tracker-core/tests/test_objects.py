import dataclasses

import pytest

from bulk_tracker_core import ChangeKind, ModifiedObject, TrackingInfo, check_tracking_info


def test_modified_object_defaults_and_equality():
    obj = ModifiedObject("row")
    assert obj.changed_values == {}
    assert obj == ModifiedObject("row", {})
    assert ModifiedObject("row", {"a": 1}) != ModifiedObject("row", {"a": 2})
    assert ModifiedObject("row") != ModifiedObject("other")
    assert ModifiedObject("a").changed_values is not ModifiedObject("b").changed_values


def test_modified_object_repr():
    assert repr(ModifiedObject("row", {"a": 1})) == "ModifiedObject('row', changed_values={'a': 1})"


def test_tracking_info_defaults():
    info = TrackingInfo()
    assert (info.user, info.comment, info.reason, info.system) == (None, None, None, None)
    assert info.kwargs == {}
    assert info.is_robust is False
    assert TrackingInfo().kwargs is not info.kwargs
    assert info == TrackingInfo()
    assert TrackingInfo(comment="a") != TrackingInfo(comment="b")


def test_tracking_info_kwargs_validation():
    assert TrackingInfo(kwargs=None).kwargs == {}
    assert TrackingInfo(kwargs={"k": 1}).kwargs == {"k": 1}
    with pytest.raises(TypeError, match="kwargs must be a dict, got list"):
        TrackingInfo(kwargs=[("k", 1)])


def test_merged_with_inner_wins_and_kwargs_merge():
    outer = TrackingInfo(user="alice", comment="outer", reason="why", kwargs={"a": 1, "b": 1})
    inner = TrackingInfo(comment="inner", system="cron", kwargs={"b": 2, "c": 3}, is_robust=True)
    merged = outer.merged_with(inner)
    assert merged == TrackingInfo(
        user="alice", comment="inner", reason="why", system="cron", kwargs={"a": 1, "b": 2, "c": 3}, is_robust=True
    )
    assert outer.kwargs == {"a": 1, "b": 1}
    assert inner.kwargs == {"b": 2, "c": 3}


def test_merged_with_keeps_outer_robust_and_falsy_inner_values():
    merged = TrackingInfo(comment="outer", is_robust=True).merged_with(TrackingInfo(comment=""))
    assert merged.comment == ""
    assert merged.is_robust is True


def test_check_tracking_info_accepts_info_and_none():
    info = TrackingInfo()
    assert check_tracking_info(info) is info
    assert check_tracking_info(None) is None


@pytest.mark.parametrize("value", [{"user": "x"}, "comment", 1])
def test_check_tracking_info_type_error_says_what_was_expected_and_got(value):
    with pytest.raises(TypeError) as excinfo:
        check_tracking_info(value)
    message = str(excinfo.value)
    assert "TrackingInfo or None" in message
    assert f"got {type(value).__name__}: {value!r}" in message


@dataclasses.dataclass
class RequestInfo(TrackingInfo):
    request_id: str | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    attempt: int = 0


@dataclasses.dataclass
class OtherInfo(TrackingInfo):
    source: str | None = None


def test_merged_with_keeps_the_inner_subclass_and_its_fields():
    outer = TrackingInfo(user="alice", kwargs={"a": 1})
    inner = RequestInfo(comment="inner", kwargs={"b": 2}, request_id="r-1", tags=["x"])
    merged = outer.merged_with(inner)
    assert type(merged) is RequestInfo
    assert merged == RequestInfo(user="alice", comment="inner", kwargs={"a": 1, "b": 2}, request_id="r-1", tags=["x"])
    assert merged is not inner
    assert inner == RequestInfo(comment="inner", kwargs={"b": 2}, request_id="r-1", tags=["x"])


def test_merged_with_keeps_the_outer_subclass_and_its_fields_under_a_plain_inner():
    outer = RequestInfo(user="alice", request_id="r-1", attempt=2)
    merged = outer.merged_with(TrackingInfo(comment="inner", is_robust=True))
    assert type(merged) is RequestInfo
    assert merged == RequestInfo(user="alice", comment="inner", is_robust=True, request_id="r-1", attempt=2)
    assert outer == RequestInfo(user="alice", request_id="r-1", attempt=2)


def test_merged_with_same_subclass_inner_fields_win_when_set_and_defaults_fall_back():
    outer = RequestInfo(request_id="outer", tags=["o"], attempt=1)
    assert outer.merged_with(RequestInfo(request_id="inner")) == RequestInfo(request_id="inner", tags=["o"], attempt=1)
    assert outer.merged_with(RequestInfo(tags=["i"], attempt=3)) == RequestInfo(
        request_id="outer", tags=["i"], attempt=3
    )
    assert outer.merged_with(RequestInfo()) == outer


def test_merged_with_unrelated_subclasses_keeps_the_inner_type_and_its_fields():
    merged = RequestInfo(user="alice", request_id="r-1").merged_with(OtherInfo(source="cron"))
    assert type(merged) is OtherInfo
    assert merged == OtherInfo(user="alice", source="cron")


def test_merged_with_a_field_without_default_is_always_the_inner_value():
    @dataclasses.dataclass
    class Mandatory(TrackingInfo):
        ticket: str = dataclasses.field(kw_only=True)

    merged = Mandatory(ticket="outer", user="a").merged_with(Mandatory(ticket="inner"))
    assert merged == Mandatory(ticket="inner", user="a")


def test_change_kinds_compare_equal_to_the_strings_receivers_and_tests_already_use():
    assert [kind.value for kind in ChangeKind] == ["create", "update", "delete"]
    assert ChangeKind.UPDATE == "update"
    assert str(ChangeKind.DELETE) == "delete"
    assert ChangeKind("create") is ChangeKind.CREATE


def test_built_on_access_builds_the_instance_once_on_first_access():
    built = []

    def build():
        built.append(1)
        return Row(7)

    obj = ModifiedObject.built_on_access(build, {"a": 1}, pk=7)
    assert (obj.pk, obj.changed_values, built) == (7, {"a": 1}, [])
    assert obj.instance is obj.instance
    assert built == [1]
    assert obj == ModifiedObject(obj.instance, {"a": 1})
    assert repr(obj) == "ModifiedObject(Row(pk=7), changed_values={'a': 1})"


def test_pk_of_an_eager_modified_object_is_its_instances():
    assert ModifiedObject(Row(3)).pk == 3
    with pytest.raises(AttributeError, match="has no attribute 'pk'"):
        ModifiedObject("row").pk  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'other'"):
        ModifiedObject(Row(3)).other  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'instance'"):
        ModifiedObject.__new__(ModifiedObject).instance  # noqa: B018


def test_a_modified_object_built_on_access_pickles_and_copies_with_its_instance():
    import copy
    import pickle

    obj = ModifiedObject.built_on_access(lambda: Row(5), {"n": 1}, pk=5)
    for clone in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj), copy.copy(obj)):
        assert (clone.instance, clone.changed_values, clone.pk) == (Row(5), {"n": 1}, 5)
    assert pickle.loads(pickle.dumps(ModifiedObject(Row(1)))) == ModifiedObject(Row(1))


def test_an_instance_stored_while_building_is_the_one_every_access_returns():
    # Another thread that built and stored first, drawn without threads: the first build reads it meanwhile.
    builds, stored_meanwhile = [], []

    def build():
        builds.append(1)
        if len(builds) == 1:
            stored_meanwhile.append(obj.instance)
        return Row(len(builds))

    obj = ModifiedObject.built_on_access(build, {}, pk=1)
    assert obj.instance is stored_meanwhile[0] is obj.instance
    assert (obj.instance, len(builds)) == (Row(2), 2)


def test_an_attribute_error_of_the_build_itself_is_not_masked():
    def build():
        raise AttributeError("the loader broke")

    with pytest.raises(AttributeError, match="the loader broke"):
        ModifiedObject.built_on_access(build, {}, pk=1).instance  # noqa: B018


def test_a_modified_object_keeps_what_a_user_adds_is_weakly_referable_and_has_no_dict_of_its_own():
    import pickle
    import weakref

    obj = ModifiedObject.built_on_access(lambda: Row(5), {"n": 1}, pk=5)
    assert obj.__dict__ == {}  # pk and the builder live in slots: one small object per reported row
    obj.note = "seen"
    clone = pickle.loads(pickle.dumps(obj))
    assert (clone.instance, clone.changed_values, clone.pk, clone.note) == (Row(5), {"n": 1}, 5, "seen")
    assert weakref.ref(obj)() is obj


@dataclasses.dataclass
class Row:
    pk: int

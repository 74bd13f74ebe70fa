import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bulk_tracker_core import (
    TrackingInfo,
    bind_tracking_state,
    current_tracking_info,
    is_suspended,
    resolve_tracking_info,
    suspended,
    tracking,
)


def test_nothing_outside_a_block():
    assert current_tracking_info() is None
    assert is_suspended() is False
    assert resolve_tracking_info() is None


def test_context_manager_sets_and_restores():
    with tracking(user="alice", comment="import", kwargs={"batch": 1}) as info:
        assert info == TrackingInfo(user="alice", comment="import", kwargs={"batch": 1})
        assert current_tracking_info() is info
    assert current_tracking_info() is None


def test_restores_on_exception():
    with pytest.raises(RuntimeError), tracking(comment="x"):
        raise RuntimeError
    assert current_tracking_info() is None


def test_nesting_merges_inner_wins():
    with tracking(user="alice", comment="outer", kwargs={"a": 1, "b": 1}):
        with tracking(comment="inner", reason="why", kwargs={"b": 2}, is_robust=True) as info:
            assert info == TrackingInfo(
                user="alice", comment="inner", reason="why", kwargs={"a": 1, "b": 2}, is_robust=True
            )
        assert current_tracking_info() == TrackingInfo(user="alice", comment="outer", kwargs={"a": 1, "b": 1})


def test_replace_ignores_outer():
    with tracking(user="alice", kwargs={"a": 1}), tracking(system="cron", replace=True) as info:
        assert info == TrackingInfo(system="cron")


def test_explicit_info_positional_arg_merged_with_keywords():
    base = TrackingInfo(user="alice", comment="base", kwargs={"a": 1})
    with tracking(base, comment="override", kwargs={"b": 2}) as info:
        assert info == TrackingInfo(user="alice", comment="override", kwargs={"a": 1, "b": 2})
    with tracking(base) as info:
        assert info == base


def test_tracking_rejects_wrong_info_type():
    with pytest.raises(TypeError, match="TrackingInfo or None, got str"):
        tracking("alice")


def test_keyword_kwargs_dict_is_copied():
    extra = {"a": 1}
    block = tracking(kwargs=extra)
    extra["b"] = 2
    with block as info:
        assert info.kwargs == {"a": 1}


def test_resolve_tracking_info_explicit_wins():
    explicit = TrackingInfo(comment="explicit")
    with tracking(comment="context") as info:
        assert resolve_tracking_info(explicit) is explicit
        assert resolve_tracking_info(None) is info
    with pytest.raises(TypeError, match="got dict"):
        resolve_tracking_info({"comment": "x"})


def test_decorates_sync_function():
    @tracking(comment="job")
    def job(x, *, y):
        return x + y, current_tracking_info()

    assert job.__name__ == "job"
    result, info = job(1, y=2)
    assert result == 3
    assert info == TrackingInfo(comment="job")
    assert current_tracking_info() is None
    with tracking(user="alice"):
        assert job(0, y=0)[1] == TrackingInfo(user="alice", comment="job")


def test_decorates_async_function():
    @tracking(comment="job")
    async def job(x):
        await asyncio.sleep(0)
        return x, current_tracking_info()

    assert asyncio.iscoroutinefunction(job)
    assert asyncio.run(job(1)) == (1, TrackingInfo(comment="job"))
    assert current_tracking_info() is None


def test_suspended_context_manager_keeps_info_and_restores():
    with tracking(comment="outer"):
        with suspended() as info:
            assert is_suspended()
            assert info == TrackingInfo(comment="outer")
            with tracking(comment="inner"):
                assert is_suspended()
        assert not is_suspended()
    assert not is_suspended()


def test_suspended_decorates_sync_and_async():
    @suspended()
    def sync_job():
        return is_suspended()

    @suspended()
    async def async_job():
        await asyncio.sleep(0)
        return is_suspended()

    assert sync_job() is True
    assert asyncio.run(async_job()) is True
    assert not is_suspended()


def state() -> tuple[TrackingInfo | None, bool]:
    return current_tracking_info(), is_suspended()


def test_a_bound_function_runs_in_the_state_it_was_bound_in():
    info = TrackingInfo(comment="queued")
    with tracking(info):
        bound = bind_tracking_state(lambda *args, **kwargs: (state(), args, kwargs))
    with suspended(), tracking(comment="at commit"):
        assert bound(1, k=2) == ((info, False), (1,), {"k": 2})
        assert state() == (TrackingInfo(comment="at commit"), True)
    with suspended():
        bound_suspended = bind_tracking_state(state)
    assert bound_suspended() == (None, True)
    assert state() == (None, False)


def test_a_bound_function_that_raises_restores_the_callers_state():
    with tracking(comment="queued"):

        @bind_tracking_state
        def fail() -> None:
            with suspended():
                raise ValueError(current_tracking_info())

    with suspended(), pytest.raises(ValueError, match="queued"):
        fail()
    assert fail.__name__ == "fail"
    assert state() == (None, False)


def test_same_object_reentered_nested():
    block = tracking(comment="same", kwargs={"a": 1})
    with block as outer:
        with block as inner:
            assert inner == outer
            assert current_tracking_info() is inner
        assert current_tracking_info() is outer
    assert current_tracking_info() is None


def _overlap_in_threads(run):
    """Call run(name, entered, proceed) in two threads: first enters, second enters, first leaves, second leaves."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        try:
            return run("first", first_in, second_in)
        finally:
            first_out.set()

    def second():
        first_in.wait(5)
        return run("second", second_in, first_out)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(first), pool.submit(second)]
        return [future.result() for future in futures]


def test_threads_are_isolated():
    def run(name, entered, proceed):
        with tracking(user=name):
            entered.set()
            proceed.wait(5)
            return current_tracking_info().user

    with tracking(user="main"):
        assert _overlap_in_threads(run) == ["first", "second"]
        assert current_tracking_info().user == "main"


def test_decorated_function_called_concurrently_from_threads():
    @tracking(system="cron")
    def job(name, entered, proceed):
        with tracking(user=name):
            entered.set()
            proceed.wait(5)
            return current_tracking_info()

    def run(name, entered, proceed):
        return job(name, entered, proceed), current_tracking_info()

    assert _overlap_in_threads(run) == [(TrackingInfo(user=name, system="cron"), None) for name in ("first", "second")]


def test_one_block_object_entered_from_threads_at_once():
    shared = tracking(comment="shared")

    def run(name, entered, proceed):
        with shared, tracking(user=name):
            entered.set()
            proceed.wait(5)
            info = current_tracking_info()
        return info, current_tracking_info()

    assert _overlap_in_threads(run) == [
        (TrackingInfo(user=name, comment="shared"), None) for name in ("first", "second")
    ]


def test_asyncio_tasks_are_isolated():
    async def task(name, block):
        with block:
            seen = []
            for _ in range(3):
                await asyncio.sleep(0)
                seen.append(current_tracking_info().user)
            with suspended():
                await asyncio.sleep(0)
                seen.append(is_suspended())
        return seen, current_tracking_info()

    async def main():
        with tracking(system="web"):
            return await asyncio.gather(task("a", tracking(user="a")), task("b", tracking(user="b")))

    web = TrackingInfo(system="web")
    assert asyncio.run(main()) == [(["a", "a", "a", True], web), (["b", "b", "b", True], web)]


def test_one_block_object_entered_from_tasks_at_once():
    shared = tracking(comment="shared")

    async def task(name):
        with shared:
            await asyncio.sleep(0)
            with tracking(user=name):
                await asyncio.sleep(0)
                info = current_tracking_info()
            await asyncio.sleep(0)
        return info, current_tracking_info()

    async def main():
        return await asyncio.gather(task("a"), task("b"))

    assert asyncio.run(main()) == [
        (TrackingInfo(user="a", comment="shared"), None),
        (TrackingInfo(user="b", comment="shared"), None),
    ]


def test_decorated_coroutine_run_concurrently():
    @tracking(system="cron")
    async def job(name):
        with tracking(user=name):
            await asyncio.sleep(0)
            info = current_tracking_info()
        await asyncio.sleep(0)
        return info, current_tracking_info()

    async def main():
        return await asyncio.gather(job("a"), job("b"))

    assert asyncio.run(main()) == [
        (TrackingInfo(user=name, system="cron"), TrackingInfo(system="cron")) for name in "ab"
    ]


@dataclasses.dataclass
class RequestInfo(TrackingInfo):
    request_id: str | None = None


def test_a_block_of_one_info_holds_that_very_object():
    info = RequestInfo(user="alice", request_id="r-1")
    with tracking(info) as entered:
        assert entered is info
        assert current_tracking_info() is info
        assert resolve_tracking_info() is info
    with tracking(comment="outer"), tracking(info, replace=True) as entered:
        assert entered is info


def test_a_block_of_info_and_keywords_keeps_the_subclass():
    with tracking(RequestInfo(user="alice", request_id="r-1"), comment="import") as entered:
        assert entered == RequestInfo(user="alice", comment="import", request_id="r-1")
        assert type(entered) is RequestInfo


def test_nested_blocks_keep_the_subclass_and_its_fields_either_way():
    with tracking(RequestInfo(user="alice", request_id="r-1")), tracking(comment="inner") as entered:
        assert entered == RequestInfo(user="alice", comment="inner", request_id="r-1")
    with tracking(comment="outer"), tracking(RequestInfo(request_id="r-2")) as entered:
        assert entered == RequestInfo(comment="outer", request_id="r-2")


def test_an_explicit_info_wins_as_the_very_object():
    info = RequestInfo(request_id="r-1")
    with tracking(comment="context"):
        assert resolve_tracking_info(info) is info

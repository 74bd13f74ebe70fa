import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connection, models, transaction
from helpers import connected, sql_of

from bulk_tracker import TrackingInfo
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import post_create_signal, post_update_signal
from testapp.models import Book, Crate, Depot, Edition, Tag

pytestmark = pytest.mark.django_db


def target(*unique_fields):
    """``unique_fields`` of an upsert; MariaDB refuses them (every unique key is a conflict target there)."""
    return {"unique_fields": list(unique_fields)} if connection.features.supports_update_conflicts_with_target else {}


UPSERT = {"ignore": {"ignore_conflicts": True}, "update": {"update_conflicts": True, "update_fields": ["color"]}}


def upsert_options(kind):
    return {**UPSERT[kind], **(target("name") if kind == "update" else {})}


def instances(call):
    return [modified.instance for modified in call.objects]


def identical(left, right):
    return [id(obj) for obj in left] == [id(obj) for obj in right]


def test_reports_every_created_object(received):
    objs = [Book(title="a", stock=1), Book(title="b")]
    with received.committing():
        result = Book.objects.bulk_create(objs)
    assert identical(result, objs)
    call = received.only("create")
    assert call.sender is Book
    assert call.using == "default"
    assert identical(instances(call), objs)
    assert [modified.changed_values for modified in call.objects] == [{}, {}]
    if connection.features.can_return_rows_from_bulk_insert:
        assert [obj.pk for obj in objs] == list(Book.objects.order_by("pk").values_list("pk", flat=True))


def test_tracking_info_is_delivered(received):
    info = TrackingInfo(user="u", comment="import")
    with received.committing():
        Book.objects.bulk_create([Book(title="a")], tracking_info_=info)
    assert received.only("create").tracking_info == info


def test_costs_djangos_statements(received):
    djangos = sql_of(lambda: models.QuerySet(Book).bulk_create([Book(title="a"), Book(title="b")], batch_size=1))
    with received.committing():
        tracked = sql_of(lambda: Book.objects.bulk_create([Book(title="c"), Book(title="d")], batch_size=1))
    assert len(received.only("create").objects) == 2
    assert len(tracked) == len(djangos)


@pytest.mark.parametrize("kind", ["plain", "ignore", "update"])
def test_without_receiver_the_sql_is_djangos(kind):
    assert not post_create_signal.has_listeners(Tag)
    assert not post_update_signal.has_listeners(Tag)
    options = {} if kind == "plain" else upsert_options(kind)

    def tags():
        return [Tag(name="red", color="red"), Tag(name="blue")]

    djangos = sql_of(lambda: models.QuerySet(Tag).bulk_create(tags(), **options))
    if kind == "plain":  # the same rows again would hit the unique name
        models.QuerySet(Tag).all().delete()
    assert sql_of(lambda: Tag.objects.bulk_create(tags(), **options)) == djangos


def test_ignore_conflicts_reports_only_inserted_rows(received):
    Tag.objects.create(name="red", color="red")
    objs = [Tag(name="red", color="pink"), Tag(name="blue"), Tag(name="blue", color="navy"), Tag(name="green")]
    with received.committing():
        result = Tag.objects.bulk_create(objs, ignore_conflicts=True)
    assert identical(result, objs)
    assert [obj.pk for obj in objs] == [None] * 4  # as Django leaves them: ignore_conflicts returns no pk
    stored = {name: (pk, color) for pk, name, color in Tag.objects.values_list("pk", "name", "color")}
    assert stored == {
        "red": (stored["red"][0], "red"),
        "blue": (stored["blue"][0], "grey"),
        "green": (stored["green"][0], "grey"),
    }
    call = received.only("create")
    # Of two "blue", the first is inserted; the reported instances carry the pks read back.
    assert [(obj.pk, obj.name, obj.color) for obj in instances(call)] == [
        (stored["blue"][0], "blue", "grey"),
        (stored["green"][0], "green", "grey"),
    ]
    assert [modified.changed_values for modified in call.objects] == [{}, {}]


def test_ignore_conflicts_on_the_pk_whatever_unique_fields_say(received):
    red = Tag.objects.create(name="red")
    blue = Tag(name="blue")
    with received.committing():
        Tag.objects.bulk_create([Tag(pk=red.pk, name="pink"), blue], ignore_conflicts=True, unique_fields=["name"])
    [created] = received.only("create").objects
    assert (created.instance.pk, created.instance.name) == (Tag.objects.get(name="blue").pk, "blue")
    assert blue.pk is None  # as Django leaves it
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["blue", "red"]


def test_update_conflicts_reports_created_and_changed_rows(received):
    red = Tag.objects.create(name="red", color="red", uses=5)
    Tag.objects.create(name="blue", color="blue")
    objs = [Tag(name="red", color="crimson"), Tag(name="blue", color="blue"), Tag(name="green", color="green")]
    with received.committing():
        result = Tag.objects.bulk_create(objs, update_conflicts=True, update_fields=["color"], **target("name"))
    assert identical(result, objs)
    assert len(received.calls) == 2
    [created], [updated] = received.of("create"), received.of("update")
    [green] = instances(created)
    assert (green.pk, green.name, green.color) == (Tag.objects.get(name="green").pk, "green", "green")
    # The caller's object as Django leaves it: a pk only where the backend returns one for upserts.
    assert objs[2].pk in (None, green.pk)
    assert green is objs[2] or objs[2].pk is None
    assert updated.objects == [ModifiedObject(red, {"color": "red"})]  # blue kept its color: not reported
    instance = updated.objects[0].instance
    assert (instance.pk, instance.name, instance.color, instance.uses) == (red.pk, "red", "crimson", 5)
    assert dict(Tag.objects.values_list("name", "color")) == {"red": "crimson", "blue": "blue", "green": "green"}


def test_update_conflicts_on_a_composite_key(received):
    first = Edition.objects.create(isbn_prefix="978", number=1, copies=5)
    Edition.objects.create(isbn_prefix="978", number=2, copies=1)
    objs = [
        Edition(isbn_prefix="978", number=1, copies=7),
        Edition(isbn_prefix="978", number=2, copies=1),
        Edition(isbn_prefix="979", number=1, copies=3),
    ]
    with received.committing():
        Edition.objects.bulk_create(
            objs, update_conflicts=True, update_fields=["copies"], **target("isbn_prefix", "number")
        )
    [created], [updated] = received.of("create"), received.of("update")
    assert len(received.calls) == 2
    [edition] = instances(created)
    assert (edition.pk, edition.isbn_prefix, edition.copies) == (Edition.objects.get(isbn_prefix="979").pk, "979", 3)
    assert edition is objs[2] or objs[2].pk is None  # a copy only where Django leaves the caller's object no pk
    assert updated.objects == [ModifiedObject(first, {"copies": 5})]
    assert updated.objects[0].instance.copies == 7


def test_update_conflicts_key_given_twice_reports_the_created_row_as_it_ends(received):
    """Found by the oracle: the second object updates the row the first inserted (one batch each)."""
    objs = [Tag(name="x", color="one"), Tag(name="x", color="two")]
    with received.committing():
        Tag.objects.bulk_create(objs, batch_size=1, update_conflicts=True, update_fields=["color"], **target("name"))
    call = received.only("create")
    assert [(o.instance.pk, o.instance.color) for o in call.objects] == [(Tag.objects.get().pk, "two")]
    assert list(Tag.objects.values_list("color", flat=True)) == ["two"]


def test_update_conflicts_existing_row_given_twice_is_one_report_with_its_old_value(received):
    red = Tag.objects.create(name="red", color="red")
    Tag.objects.create(name="blue", color="blue")
    objs = [Tag(name="red", color="pink"), Tag(name="blue", color="navy"), Tag(name="red", color="crimson")]
    objs.append(Tag(name="blue", color="blue"))  # back to what it was: not a change
    with received.committing():
        Tag.objects.bulk_create(objs, batch_size=1, update_conflicts=True, update_fields=["color"], **target("name"))
    call = received.only("update")
    assert [(o.instance.pk, o.instance.color, o.changed_values) for o in call.objects] == [
        (red.pk, "crimson", {"color": "red"})
    ]


def test_update_conflicts_objects_with_a_pk_are_written_first_as_django_does(received):
    """Found by the oracle: Django inserts objects whose pk is set before the others; the last write wins."""
    red = Tag.objects.create(name="red", color="red")
    objs = [Tag(name="red", color="pink"), Tag(pk=red.pk, name="red", color="crimson")]
    with received.committing():
        Tag.objects.bulk_create(objs, update_conflicts=True, update_fields=["color"], **target("name"))
    assert Tag.objects.get().color == "pink"
    call = received.only("update")
    assert [(o.instance.pk, o.instance.color, o.changed_values) for o in call.objects] == [
        (red.pk, "pink", {"color": "red"})
    ]


@pytest.mark.django_db(transaction=True)
def test_ignore_conflicts_row_refused_for_its_foreign_key_is_not_reported_created(received):
    """Found by the oracle on MariaDB: INSERT IGNORE also skips, silently, a row with a dangling key."""
    depot = Depot.objects.create(name="d")
    dangling = depot.pk + 1000
    objs = [
        Crate(code="kept", depot=depot),
        Crate(code="orphan", depot_id=dangling),
        Crate(pk=777, code="x", depot_id=dangling),
    ]
    try:
        with received.committing():
            Crate.objects.bulk_create(objs, ignore_conflicts=True)
    except IntegrityError:  # PostgreSQL and SQLite refuse the dangling key, at commit
        assert received.calls == []
        assert not Crate.objects.exists()
        return
    assert list(Crate.objects.values_list("code", flat=True)) == ["kept"]
    assert [o.instance.code for o in received.only("create").objects] == ["kept"]


@pytest.mark.parametrize("kind", ["ignore", "update"])
def test_upsert_costs_djangos_statements_plus_one_read(received, kind):
    models.QuerySet(Tag).bulk_create([Tag(name="a"), Tag(name="b")])

    def upsert(queryset, names):
        objs = [Tag(name=name, color="new") for name in names]
        return objs, sql_of(lambda: queryset.bulk_create(objs, **upsert_options(kind)))

    djangos_objs, djangos = upsert(models.QuerySet(Tag), ["a", "x"])
    with received.committing():
        _, tracked = upsert(Tag.objects, ["b", "y"])
    assert len(received.calls) == (1 if kind == "ignore" else 2)
    pk_read = 1 if djangos_objs[1].pk is None else 0  # the pk of the created row, where Django returns none
    assert len(tracked) == len(djangos) + 1 + pk_read


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"update_conflicts": True, "update_fields": ["color"], "ignore_conflicts": True}, ValueError),
        ({"update_conflicts": True}, ValueError),
        ({"update_conflicts": True, "update_fields": ["nonsense"]}, FieldDoesNotExist),
        ({"ignore_conflicts": True, "batch_size": 0}, ValueError),
    ],
)
def test_bad_upsert_is_djangos_error(received, options, error):
    with received.committing(), pytest.raises(error):
        Tag.objects.bulk_create([Tag(name="red")], **options)
    assert received.calls == []
    assert not Tag.objects.exists()


def test_abulk_create_with_tracking_info(received):
    info = TrackingInfo(comment="async")
    objs = [Book(title="a"), Book(title="b")]

    async def run():
        return await Book.objects.abulk_create(objs, tracking_info_=info)

    with received.committing():
        assert identical(async_to_sync(run)(), objs)
    call = received.only("create")
    assert call.tracking_info == info
    assert identical(instances(call), objs)


class Rollback(Exception):  # noqa: N818 - control flow
    pass


def tag_table():
    return list(models.QuerySet(Tag).order_by("pk").values_list("name", "color", "uses"))


def as_django_does(objs, options):
    """Plain Django's upsert of ``objs``, rolled back: (its statements, the Tag table it left, the pks it set)."""
    try:
        with transaction.atomic():
            statements = sql_of(lambda: models.QuerySet(Tag).bulk_create(objs, **options))
            table = tag_table()
            raise Rollback
    except Rollback:
        pass
    return statements, table, [obj.pk for obj in objs]


def palette():
    """A red and a blue tag stored, and an upsert of four: red changed, blue as it is, green given twice."""
    models.QuerySet(Tag).bulk_create([Tag(name="red", color="red", uses=5), Tag(name="blue", color="blue")])
    return lambda: [
        Tag(name="red", color="crimson"),
        Tag(name="green", color="lime"),
        Tag(name="blue", color="blue"),
        Tag(name="green", color="green"),
    ]


@pytest.mark.parametrize("kind", ["ignore", "update"])
def test_upsert_statements_are_one_locked_read_then_exactly_djangos(received, kind):
    objs, options = palette(), {**upsert_options(kind), "batch_size": 1}
    djangos, _, djangos_pks = as_django_does(objs(), options)
    with received.committing():
        tracked = sql_of(lambda: Tag.objects.bulk_create(objs(), **options))
    read, insert, pk_read = tracked[0], tracked[1 : 1 + len(djangos)], tracked[1 + len(djangos) :]
    assert read.startswith("SELECT ")
    assert read.index("'red'") < read.index("'green'") < read.index("'blue'")  # by the unique name, in objs' order
    assert read.endswith(("FOR UPDATE", 'FOR UPDATE OF "testapp_tag"')) == connection.features.has_select_for_update
    assert insert == djangos
    if djangos_pks[1] is None:  # the backend returned no pk for the created row: one read by its name
        [statement] = pk_read
        assert statement.startswith("SELECT ")
        assert "'green'" in statement
        assert "'red'" not in statement
        assert "FOR UPDATE" not in statement
    else:
        assert pk_read == []


@pytest.mark.parametrize("kind", ["ignore", "update"])
def test_upsert_reports_exactly_what_djangos_upsert_did(received, kind):
    objs, options = palette(), {**upsert_options(kind), "batch_size": 1}
    red = Tag.objects.get(name="red")
    _, djangos_table, djangos_pks = as_django_does(objs(), options)
    given = objs()
    with received.committing():
        result = Tag.objects.bulk_create(given, **options)
    assert identical(result, given)
    assert tag_table() == djangos_table
    # The caller's objects as Django leaves them: their own colors, a pk where the backend returned one.
    assert [obj.color for obj in given] == ["crimson", "lime", "blue", "green"]
    assert [obj.pk is None for obj in given] == [pk is None for pk in djangos_pks]
    green = Tag.objects.get(name="green")
    created = received.of("create")
    assert len(created) == 1
    # The first green inserted the row, reported as stored: "lime", or "green" written by the second.
    [row] = created[0].objects
    assert (row.instance.pk, row.instance.name, row.instance.color, row.changed_values) == (
        green.pk,
        "green",
        green.color,
        {},
    )
    if kind == "ignore":
        assert [call.kind for call in received.calls] == ["create"]
        return
    assert [call.kind for call in received.calls] == ["create", "update"]
    [changed] = received.of("update")[0].objects
    assert changed == ModifiedObject(red, {"color": "red"})  # blue was given its own color: not a change
    instance = changed.instance
    assert (instance.pk, instance.name, instance.color, instance.uses) == (red.pk, "red", "crimson", 5)


def test_upsert_compares_the_values_as_stored(received):
    """``uses="5"`` writes 5 where 5 is stored: not a change; ``"6"`` is one, reported with the old int."""
    models.QuerySet(Tag).bulk_create([Tag(name="a", uses=5), Tag(name="b", uses=5)])
    with received.committing():
        Tag.objects.bulk_create(
            [Tag(name="a", uses="5"), Tag(name="b", uses="6")],
            update_conflicts=True,
            update_fields=["uses"],
            **target("name"),
        )
    [changed] = received.only("update").objects
    assert (changed.instance.name, changed.instance.uses, changed.changed_values) == ("b", 6, {"uses": 5})
    assert type(changed.changed_values["uses"]) is int


def test_upsert_with_only_an_update_receiver_sends_only_the_update(django_capture_on_commit_callbacks):
    red = Tag.objects.create(name="red", color="red")
    calls = []

    def receiver(sender, objects, **kwargs):
        calls.append((sender, objects))

    with connected(post_update_signal, receiver, Tag), django_capture_on_commit_callbacks(execute=True):
        Tag.objects.bulk_create(
            [Tag(name="red", color="pink"), Tag(name="new")],
            update_conflicts=True,
            update_fields=["color"],
            **target("name"),
        )
        assert calls == []  # delivered on commit
    assert calls == [(Tag, [ModifiedObject(red, {"color": "red"})])]
    assert calls[0][1][0].instance.color == "pink"

import uuid

import django
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from model_utils import FieldTracker

from bulk_tracker.managers import BulkTrackerManager, BulkTrackerQuerySet
from bulk_tracker.models import BulkTrackerModel


class Author(BulkTrackerModel):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=100, unique=True, null=True, blank=True)

    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.name


class BookQuerySet(BulkTrackerQuerySet["Book"]):
    def cheap(self) -> "BookQuerySet":
        return self.filter(price__lt=10)


class Book(BulkTrackerModel):
    title = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    stock = models.IntegerField(default=0)
    rating = models.FloatField(null=True, blank=True)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.CASCADE, related_name="books")
    data = models.JSONField(default=dict, blank=True)
    published = models.DateTimeField(null=True, blank=True)

    objects = BulkTrackerManager.from_queryset(BookQuerySet)()
    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.title


class Tag(BulkTrackerModel):
    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(max_length=20, default="grey")
    uses = models.IntegerField(default=0)

    tracker = FieldTracker()


class Edition(BulkTrackerModel):
    """Unique across two columns, for upserts on a composite key."""

    isbn_prefix = models.CharField(max_length=10)
    number = models.IntegerField()
    copies = models.IntegerField(default=0)

    tracker = FieldTracker()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["isbn_prefix", "number"], name="edition_key")]


class AliveQuerySet(BulkTrackerQuerySet["Article"]):
    pass


class AliveManager(BulkTrackerManager.from_queryset(AliveQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> AliveQuerySet:
        return super().get_queryset().filter(is_deleted=False)


class Article(BulkTrackerModel):
    """Its default manager hides soft-deleted rows."""

    title = models.CharField(max_length=100)
    is_deleted = models.BooleanField(default=False)

    objects = AliveManager()
    all_objects = BulkTrackerManager()
    tracker = FieldTracker()


class Place(BulkTrackerModel):
    name = models.CharField(max_length=100)

    tracker = FieldTracker()


class Restaurant(Place):
    serves = models.IntegerField(default=0)

    tracker = FieldTracker()


class Note(models.Model):
    """Not a BulkTrackerModel: only its queryset is tracked."""

    text = models.CharField(max_length=100)

    objects = BulkTrackerQuerySet.as_manager()


class Untracked(BulkTrackerModel):
    """A BulkTrackerModel without a FieldTracker: it records its saved values itself."""

    value = models.IntegerField(default=0)


class Desk(models.Model):
    name = models.CharField(max_length=20, default="")


class Jotting(BulkTrackerModel):
    """No FieldTracker, and fields of the kinds save() reports: a foreign key, JSON, auto_now, a counter."""

    text = models.CharField(max_length=20, default="")
    desk = models.ForeignKey(Desk, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    count = models.IntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)


class PlainJotting(models.Model):
    text = models.CharField(max_length=20, default="")
    desk = models.ForeignKey(Desk, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    count = models.IntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)


class Publisher(models.Model):
    """Untracked parent of tracked Posts."""

    name = models.CharField(max_length=100)


class Post(BulkTrackerModel):
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=100)

    tracker = FieldTracker()


class Critic(BulkTrackerModel):
    name = models.CharField(max_length=100)

    tracker = FieldTracker()


def anonymous_critic() -> Critic:
    return Critic.objects.get(name="anonymous")


class Review(BulkTrackerModel):
    """Reached from Author twice (directly and through Book), with every SET_* flavour."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(Author, null=True, on_delete=models.CASCADE, related_name="reviews")
    critic = models.ForeignKey(Critic, null=True, on_delete=models.SET_NULL, related_name="reviews")
    second_critic = models.ForeignKey(
        Critic, null=True, default=None, on_delete=models.SET_DEFAULT, related_name="second_reviews"
    )
    fallback_critic = models.ForeignKey(
        Critic, null=True, on_delete=models.SET(anonymous_critic), related_name="fallback_reviews"
    )
    text = models.CharField(max_length=100, default="")

    tracker = FieldTracker()


class Loan(BulkTrackerModel):
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="loans")

    tracker = FieldTracker()


# --- the oracle's schema (test_oracle.py): a cascade, a SET_NULL relation, unique and JSON fields ---


class Depot(BulkTrackerModel):
    """Deleting a depot cascades to its clerks and its crates."""

    name = models.CharField(max_length=20, unique=True)
    size = models.IntegerField(default=0)

    tracker = FieldTracker()


class Clerk(BulkTrackerModel):
    """Deleting a clerk sets the clerk of its crates to NULL."""

    name = models.CharField(max_length=20)
    depot = models.ForeignKey(Depot, null=True, blank=True, on_delete=models.CASCADE, related_name="clerks")

    tracker = FieldTracker()


class Crate(BulkTrackerModel):
    depot = models.ForeignKey(Depot, on_delete=models.CASCADE, related_name="crates")
    clerk = models.ForeignKey(Clerk, null=True, blank=True, on_delete=models.SET_NULL, related_name="crates")
    code = models.CharField(max_length=20, unique=True)
    qty = models.IntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)

    tracker = FieldTracker()


# --- test_dropin_queryset.py: values a database stores otherwise than given, and a plain twin ---


class Ledger(BulkTrackerModel):
    label = models.CharField(max_length=20, default="")
    day = models.DateField(null=True, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    qty = models.IntegerField(default=0)
    ratio = models.FloatField(default=0)
    data = models.JSONField(default=dict, blank=True)

    tracker = FieldTracker()


class PlainLedger(models.Model):
    """Ledger's untracked twin: what plain Django does."""

    label = models.CharField(max_length=20, default="")
    day = models.DateField(null=True, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    qty = models.IntegerField(default=0)
    ratio = models.FloatField(default=0)
    data = models.JSONField(default=dict, blank=True)


if django.VERSION >= (5, 0):

    class Gauge(BulkTrackerModel):
        """A column the database computes (GeneratedField, Django 5.0+)."""

        qty = models.IntegerField(default=0)
        doubled = models.GeneratedField(
            expression=models.F("qty") * 2, output_field=models.IntegerField(), db_persist=True
        )

        tracker = FieldTracker()


# --- test_related_writes.py: writes Django makes through the base manager, and plain twins ---


class Shelf(BulkTrackerModel):
    name = models.CharField(max_length=20)

    tracker = FieldTracker()


class Volume(BulkTrackerModel):
    """A nullable reverse foreign key: ``shelf.volumes`` has add(), remove(), clear() and set()."""

    title = models.CharField(max_length=20)
    shelf = models.ForeignKey(Shelf, null=True, blank=True, on_delete=models.CASCADE, related_name="volumes")

    tracker = FieldTracker()


class PlainShelf(models.Model):
    name = models.CharField(max_length=20)


class PlainVolume(models.Model):
    title = models.CharField(max_length=20)
    shelf = models.ForeignKey(PlainShelf, null=True, blank=True, on_delete=models.CASCADE, related_name="volumes")


class Sticker(BulkTrackerModel):
    """Attached to any object through a GenericForeignKey, or to none."""

    label = models.CharField(max_length=20)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField(null=True, blank=True)
    content_object = GenericForeignKey("content_type", "object_id")

    tracker = FieldTracker()


class Album(BulkTrackerModel):
    name = models.CharField(max_length=20)
    stickers = GenericRelation(Sticker)

    tracker = FieldTracker()


class PlainSticker(models.Model):
    label = models.CharField(max_length=20)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField(null=True, blank=True)
    content_object = GenericForeignKey("content_type", "object_id")


class PlainAlbum(models.Model):
    name = models.CharField(max_length=20)
    stickers = GenericRelation(PlainSticker)


class Memo(models.Model):
    """Not a BulkTrackerModel, tracked only through its queryset: Django's own save(), our update_or_create()."""

    key = models.CharField(max_length=20, unique=True)
    body = models.CharField(max_length=50, default="")
    count = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=6, decimal_places=2, default=0)

    objects = BulkTrackerQuerySet.as_manager()


class PlainMemo(models.Model):
    """Memo's untracked twin: what plain Django does."""

    key = models.CharField(max_length=20, unique=True)
    body = models.CharField(max_length=50, default="")
    count = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=6, decimal_places=2, default=0)


# save() and trackers (issue 14): each shape beside its plain twin.


class Kiosk(BulkTrackerModel):
    """An MTI parent with a FieldTracker; its child CornerKiosk declares none."""

    name = models.CharField(max_length=50)

    tracker = FieldTracker()


class CornerKiosk(Kiosk):
    """An MTI child without its own FieldTracker: its parent's tracks only the parent's fields."""

    stock = models.IntegerField(default=0)


class PlainKiosk(models.Model):
    name = models.CharField(max_length=50)


class PlainCornerKiosk(PlainKiosk):
    stock = models.IntegerField(default=0)


class Dial(BulkTrackerModel):
    """Two FieldTrackers, the narrow one declared first."""

    name = models.CharField(max_length=50)
    level = models.IntegerField(default=0)

    narrow = FieldTracker(fields=["name"])
    tracker = FieldTracker()


class PlainDial(models.Model):
    name = models.CharField(max_length=50)
    level = models.IntegerField(default=0)


class Slot(BulkTrackerModel):
    """A primary key that may be 0 (model_utils records no saved values for a falsy pk)."""

    number = models.IntegerField(primary_key=True)
    label = models.CharField(max_length=50)

    tracker = FieldTracker()


class PlainSlot(models.Model):
    number = models.IntegerField(primary_key=True)
    label = models.CharField(max_length=50)


class Stamp(BulkTrackerModel):
    """An auto_now field (save() overwrites it) and a DecimalField."""

    title = models.CharField(max_length=50)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    touched = models.DateTimeField(auto_now=True)

    tracker = FieldTracker()


class PlainStamp(models.Model):
    title = models.CharField(max_length=50)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    touched = models.DateTimeField(auto_now=True)


# --- update() shapes Django accepts (test_update_shapes.py): a unique rank, a plain twin ---


class Ladder(BulkTrackerModel):
    """A unique ``rank``: ``order_by("-rank").update(rank=F("rank") + 1)`` needs MySQL's UPDATE ... ORDER BY."""

    rank = models.IntegerField(unique=True)
    name = models.CharField(max_length=20, default="")

    tracker = FieldTracker()


class PlainLadder(models.Model):
    """Ladder's untracked twin: what plain Django does."""

    rank = models.IntegerField(unique=True)
    name = models.CharField(max_length=20, default="")


# --- the differential oracle's schema (test_differential.py): every shape twice, tracked and plain ---
#
# Hub -CASCADE-> Courier (a string pk, a filtering default manager) and Parcel; Courier -SET_NULL-> Parcel;
# Parcel has a unique code, Decimal, datetime, JSON, nullable and (Django 5.0+) generated fields, a
# GenericRelation to Remark, an MTI child and a proxy; Token has a UUID pk. ``_oracle_world()`` builds
# one world; the plain one has the same tables, fields and managers with plain Django classes.


class ActiveCourierManager(BulkTrackerManager[models.Model]):
    """Hides couriers that are not active, as a soft-delete manager would."""

    def get_queryset(self) -> BulkTrackerQuerySet[models.Model]:
        return super().get_queryset().filter(active=True)


class PlainActiveCourierManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(active=True)


def _oracle_world(prefix: str, base: type[models.Model], couriers: type[models.Manager]) -> dict[str, type]:
    """The oracle's models, named ``prefix + name``; a tracked world's models carry a FieldTracker."""
    tracked = base is BulkTrackerModel
    base_model = base

    def model(name: str, bases: tuple[type, ...], fields: dict[str, object], **meta: object) -> type:
        attributes: dict[str, object] = {"__module__": __name__, "__qualname__": prefix + name, **fields}
        if meta:
            attributes["Meta"] = type("Meta", (), meta)
        # Hub and Token carry no FieldTracker: BulkTrackerModel records their saved values itself.
        if tracked and not meta.get("proxy") and name not in ("Hub", "Token"):  # every field but generated ones (W004)
            # By attname, as FieldTracker() names them: model_utils takes a foreign key's name ("hub") for
            # loaded on a deferred instance, and a later deferred load then overwrites the key just set.
            parents = [f.attname for base in bases if base is not base_model for f in base._meta.concrete_fields]
            own = [
                f"{key}_id" if isinstance(value, models.ForeignKey) else key
                for key, value in fields.items()
                if isinstance(value, models.Field)
                and not isinstance(value, (GenericRelation, GenericForeignKey))
                and not getattr(value, "generated", False)
            ]
            auto_pk = [] if parents or any(getattr(v, "primary_key", False) for v in fields.values()) else ["id"]
            names = [name for name in [*auto_pk, *parents, *own] if name != "doubled"]
            attributes["tracker"] = FieldTracker(fields=names)
        return type(prefix + name, bases, attributes)

    hub = model(
        "Hub", (base,), {"name": models.CharField(max_length=20, unique=True), "size": models.IntegerField(default=0)}
    )
    courier = model(
        "Courier",
        (base,),
        {
            "code": models.CharField(max_length=10, primary_key=True),
            "name": models.CharField(max_length=20, default=""),
            "active": models.BooleanField(default=True),
            "hub": models.ForeignKey(hub, null=True, blank=True, on_delete=models.CASCADE, related_name="couriers"),
            "objects": couriers(),
        },
    )
    remark = model(
        "Remark",
        (base,),
        {
            "content_type": models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+"),
            "object_id": models.PositiveIntegerField(),
            "target": GenericForeignKey("content_type", "object_id"),
            "text": models.CharField(max_length=20, default=""),
        },
    )
    parcel_fields: dict[str, object] = {
        "hub": models.ForeignKey(hub, on_delete=models.CASCADE, related_name="parcels"),
        "courier": models.ForeignKey(courier, null=True, blank=True, on_delete=models.SET_NULL, related_name="parcels"),
        "code": models.CharField(max_length=10, unique=True),
        "qty": models.IntegerField(default=0),
        "price": models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True),
        "sent": models.DateTimeField(null=True, blank=True),
        "data": models.JSONField(default=dict, blank=True),
        "remarks": GenericRelation(remark),
    }
    if django.VERSION >= (5, 0):
        parcel_fields["doubled"] = models.GeneratedField(
            expression=models.F("qty") * 2, output_field=models.IntegerField(), db_persist=True
        )
    parcel = model("Parcel", (base,), parcel_fields)
    express = model("ExpressParcel", (parcel,), {"priority": models.IntegerField(default=0)})
    proxy = model("ParcelProxy", (parcel,), {}, proxy=True)
    token = model(
        "Token",
        (base,),
        {
            "id": models.UUIDField(primary_key=True, default=uuid.uuid4),
            "label": models.CharField(max_length=20, default=""),
            "weight": models.IntegerField(default=0),
        },
    )
    made = (hub, courier, remark, parcel, express, proxy, token)
    return {cls.__name__: cls for cls in made}


globals().update(_oracle_world("", BulkTrackerModel, ActiveCourierManager))
globals().update(_oracle_world("Plain", models.Model, PlainActiveCourierManager))
# --- changes and inserts that did not happen (test_phantom.py): constraints an insert may skip a row for ---

_CHECK = "condition" if django.VERSION >= (5, 1) else "check"  # CheckConstraint's keyword


def _tally_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        # MySQL and MariaDB have no partial index: Django creates none there.
        models.UniqueConstraint(fields=["slug"], condition=models.Q(active=True), name=f"{prefix}_active_slug"),
        models.CheckConstraint(**{_CHECK: models.Q(qty__gte=0)}, name=f"{prefix}_qty_not_negative"),
    ]


class Tally(BulkTrackerModel):
    """A unique code (nullable), a slug unique among active rows, a CHECK on qty; a Decimal and a datetime."""

    code = models.CharField(max_length=20, unique=True, null=True, blank=True)
    slug = models.CharField(max_length=20, default="")
    active = models.BooleanField(default=False)
    qty = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    at = models.DateTimeField(null=True, blank=True)

    tracker = FieldTracker()

    class Meta:
        constraints = _tally_constraints("tally")


class PlainTally(models.Model):
    """Tally's untracked twin, with the same constraints: what plain Django does."""

    code = models.CharField(max_length=20, unique=True, null=True, blank=True)
    slug = models.CharField(max_length=20, default="")
    active = models.BooleanField(default=False)
    qty = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = _tally_constraints("plain_tally")


# --- primary keys (test_keys.py): an object as pk value, UUID and composite keys, each with a plain twin ---


class Hashid:
    """A hashid-style key value: a small object around the stored integer, equal and hashed by it."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hashid) and other.number == self.number

    def __hash__(self) -> int:
        return hash((Hashid, self.number))

    def __repr__(self) -> str:
        return f"Hashid({self.number})"


class HashidField(models.IntegerField):
    """Reads ``Hashid`` objects; writes their number (``get_prep_value`` unwraps them)."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else Hashid(value)

    def to_python(self, value):
        if value is None or isinstance(value, Hashid):
            return value
        return Hashid(super().to_python(value))

    def get_prep_value(self, value):
        return super().get_prep_value(value.number if isinstance(value, Hashid) else value)


class Coupon(BulkTrackerModel):
    id = HashidField(primary_key=True)
    code = models.CharField(max_length=20, default="")
    uses = models.IntegerField(default=0)

    tracker = FieldTracker()


class PlainCoupon(models.Model):
    id = HashidField(primary_key=True)
    code = models.CharField(max_length=20, default="")
    uses = models.IntegerField(default=0)


class Redemption(BulkTrackerModel):
    """Points at a Coupon: deleting one cascades, or sets ``spare`` to NULL."""

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="redemptions")
    spare = models.ForeignKey(Coupon, null=True, on_delete=models.SET_NULL, related_name="spare_redemptions")
    note = models.CharField(max_length=20, default="")

    tracker = FieldTracker()


class PlainRedemption(models.Model):
    coupon = models.ForeignKey(PlainCoupon, on_delete=models.CASCADE, related_name="redemptions")
    spare = models.ForeignKey(PlainCoupon, null=True, on_delete=models.SET_NULL, related_name="spare_redemptions")
    note = models.CharField(max_length=20, default="")


class Voucher(BulkTrackerModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=20, default="")

    tracker = FieldTracker()


class PlainVoucher(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=20, default="")


if django.VERSION >= (5, 2):

    class Carrier(BulkTrackerModel):
        name = models.CharField(max_length=20)

        tracker = FieldTracker()

    class Consignment(BulkTrackerModel):
        """A composite primary key, one of whose columns is a foreign key (deleting a carrier cascades)."""

        pk = models.CompositePrimaryKey("carrier", "number")
        carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="parcels")
        number = models.IntegerField()
        label = models.CharField(max_length=20, default="")
        weight = models.IntegerField(default=0)

        # model_utils' FieldTracker() of every field fails on the composite pk's descriptor: name them.
        tracker = FieldTracker(fields=["carrier", "number", "label", "weight"])

    class PlainCarrier(models.Model):
        name = models.CharField(max_length=20)

    class PlainConsignment(models.Model):
        pk = models.CompositePrimaryKey("carrier", "number")
        carrier = models.ForeignKey(PlainCarrier, on_delete=models.CASCADE, related_name="parcels")
        number = models.IntegerField()
        label = models.CharField(max_length=20, default="")
        weight = models.IntegerField(default=0)


# test_review_own_record.py: shapes of BulkTrackerModel's own record (no FieldTracker) beside plain twins.


class JottingChild(Jotting):
    """An MTI child without a FieldTracker of a parent without one."""

    extra = models.IntegerField(default=0)


class PlainJottingChild(PlainJotting):
    extra = models.IntegerField(default=0)


class JottingProxy(Jotting):
    class Meta:
        proxy = True


class Blob(BulkTrackerModel):
    """No FieldTracker, and a BinaryField (Django accepts bytes, bytearray or memoryview)."""

    payload = models.BinaryField(default=b"")


class PlainBlob(models.Model):
    payload = models.BinaryField(default=b"")


# test_m2m.py: many-to-many changes of a tracked model, beside a plain twin.


class Label(models.Model):
    name = models.CharField(max_length=30)


class Record(BulkTrackerModel):
    """Reports changes of ``labels`` (opted in), not of ``stickers``."""

    title = models.CharField(max_length=30, default="")
    labels = models.ManyToManyField(Label, related_name="records", blank=True)
    stickers = models.ManyToManyField(Label, related_name="stuck_on", blank=True)

    bulk_tracker_m2m = ("labels",)


class PlainRecord(models.Model):
    title = models.CharField(max_length=30, default="")
    labels = models.ManyToManyField(Label, related_name="plain_records", blank=True)

"""One definition of the measured models; only the base class and tracking differ per implementation.

* django and its variants (django-relist, django-by-hand, django-listener), pghistory: ``models.Model``
  (pghistory adds its row-level triggers with ``pghistory.track``);
* ours and its variants (ours-idle, ours-reads, ours-floor), upstream:
  ``bulk_tracker.models.BulkTrackerModel``, as each library documents it: ours without a
  ``FieldTracker`` (it records saved values itself), django-bulk-tracker 0.2.1 with one (its
  single-row ``save()`` needs it). ``bulk_tracker`` is ours or 0.2.1, whichever the environment
  installed.
"""

from django.conf import settings
from django.db import models

IMPL = settings.IMPL
TRACKED = IMPL in ("ours", "ours-idle", "ours-reads", "ours-floor", "upstream")
FIELD_TRACKER = IMPL == "upstream"

if FIELD_TRACKER:
    from model_utils import FieldTracker

if TRACKED:
    from bulk_tracker.models import BulkTrackerModel as Base
else:
    Base = models.Model


class Item(Base):
    seq = models.IntegerField()  # the seed's index: every expected old value is computed from it
    name = models.CharField(max_length=100)
    n = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    flag = models.BooleanField(default=False)
    group = models.SmallIntegerField(db_index=True)  # seq % 10: a filter that matches 10% of the rows
    stamp = models.DateTimeField()

    if FIELD_TRACKER:
        tracker = FieldTracker()

    class Meta:
        app_label = "benchapp"


class Child(Base):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="children")
    label = models.CharField(max_length=50)

    if FIELD_TRACKER:
        tracker = FieldTracker()

    class Meta:
        app_label = "benchapp"


if IMPL == "pghistory":
    import pghistory

    def _track(model: type[models.Model]) -> type[models.Model]:
        events = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
        return pghistory.track(*events)(model)

    Item = _track(Item)
    Child = _track(Child)

from django.conf import settings
from django.db import models
from model_utils import FieldTracker

from bulk_tracker.models import BulkTrackerModel


class Author(BulkTrackerModel):
    name = models.CharField(max_length=100)

    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.name


class Book(BulkTrackerModel):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)

    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.title


class AuditEntry(models.Model):
    """One changed row, written by the audit receiver."""

    created_at = models.DateTimeField(auto_now_add=True)
    operation = models.CharField(max_length=10)
    model = models.CharField(max_length=50)
    object_id = models.CharField(max_length=50)
    changes = models.JSONField(default=dict)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    comment = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

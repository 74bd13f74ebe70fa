from django.conf import settings
from django.db import models
from model_utils import FieldTracker

from bulk_tracker.models import BulkTrackerModel


class Category(BulkTrackerModel):
    name = models.CharField(max_length=50, unique=True)

    tracker = FieldTracker()

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """Not tracked itself: a book's tags are part of the book (``Book.bulk_tracker_m2m``)."""

    name = models.CharField(max_length=30, unique=True)

    def __str__(self) -> str:
        return self.name


class Author(BulkTrackerModel):
    name = models.CharField(max_length=100, unique=True)
    book_count = models.PositiveIntegerField(default=0, editable=False)  # kept exact by receivers.py

    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.name


class Book(BulkTrackerModel):
    isbn = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    tags = models.ManyToManyField(Tag, blank=True, related_name="books")

    tracker = FieldTracker()
    bulk_tracker_m2m = ("tags",)  # add(), remove(), set(), clear() of tags: post_update_signal of the book

    def __str__(self) -> str:
        return self.title


class Review(BulkTrackerModel):
    """Survives its book: deleting the book sets ``book`` to NULL (reported as an update)."""

    book = models.ForeignKey(Book, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    text = models.CharField(max_length=200)
    stars = models.PositiveSmallIntegerField(default=3)

    tracker = FieldTracker()

    def __str__(self) -> str:
        return self.text[:40]


class AuditEntry(models.Model):
    """One reported row: written by the audit receiver, shown in the change feed."""

    created_at = models.DateTimeField(auto_now_add=True)
    operation = models.CharField(max_length=10)
    model = models.CharField(max_length=50)
    object_id = models.CharField(max_length=50)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict)  # {field: [old, new]}
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    comment = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.operation} {self.model} {self.object_id}"

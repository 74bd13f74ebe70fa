from django.contrib import admin

from .models import AuditEntry, Author, Book, Category, Review, Tag


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "book_count"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "category", "price", "stock"]
    list_editable = ["price", "stock"]
    list_filter = ["category", "author", "tags"]
    filter_horizontal = ["tags"]  # saving the form set()s them: one report of the book's old tags


admin.site.register(Category)
admin.site.register(Review)
admin.site.register(Tag)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "operation", "model", "object_id", "user", "comment"]
    list_filter = ["operation", "model"]

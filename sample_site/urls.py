from django.contrib import admin
from django.urls import path

from sample_site.bookshop import views

urlpatterns = [
    path("", views.index, name="index"),
    path("feed/", views.feed, name="feed"),
    path("raise-prices/", views.raise_prices, name="raise-prices"),
    path("restock/", views.restock, name="restock"),
    path("import/", views.import_csv, name="import-csv"),
    path("delete-author/", views.delete_author, name="delete-author"),
    path("admin/", admin.site.urls),
]

from django.contrib import admin
from django.urls import path

from sample_site.bookshop import views

urlpatterns = [
    path("", views.index, name="index"),
    path("raise-prices/", views.raise_prices, name="raise-prices"),
    path("admin/", admin.site.urls),
]

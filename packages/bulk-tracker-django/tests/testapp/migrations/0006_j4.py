import django.db.models.deletion
from django.db import migrations, models

import bulk_tracker.models


def _id():
    return ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0005_memo"),
    ]

    operations = [
        migrations.CreateModel(
            name="Kiosk",
            fields=[_id(), ("name", models.CharField(max_length=50))],
            options={"abstract": False},
            bases=(bulk_tracker.models.BulkTrackerModel,),
        ),
        migrations.CreateModel(
            name="CornerKiosk",
            fields=[
                (
                    "kiosk_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="testapp.kiosk",
                    ),
                ),
                ("stock", models.IntegerField(default=0)),
            ],
            options={"abstract": False},
            bases=("testapp.kiosk",),
        ),
        migrations.CreateModel(name="PlainKiosk", fields=[_id(), ("name", models.CharField(max_length=50))]),
        migrations.CreateModel(
            name="PlainCornerKiosk",
            fields=[
                (
                    "plainkiosk_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="testapp.plainkiosk",
                    ),
                ),
                ("stock", models.IntegerField(default=0)),
            ],
            bases=("testapp.plainkiosk",),
        ),
        migrations.CreateModel(
            name="Dial",
            fields=[_id(), ("name", models.CharField(max_length=50)), ("level", models.IntegerField(default=0))],
            options={"abstract": False},
            bases=(bulk_tracker.models.BulkTrackerModel,),
        ),
        migrations.CreateModel(
            name="PlainDial",
            fields=[_id(), ("name", models.CharField(max_length=50)), ("level", models.IntegerField(default=0))],
        ),
        migrations.CreateModel(
            name="Slot",
            fields=[
                ("number", models.IntegerField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=50)),
            ],
            options={"abstract": False},
            bases=(bulk_tracker.models.BulkTrackerModel,),
        ),
        migrations.CreateModel(
            name="PlainSlot",
            fields=[
                ("number", models.IntegerField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=50)),
            ],
        ),
        migrations.CreateModel(
            name="Stamp",
            fields=[
                _id(),
                ("title", models.CharField(max_length=50)),
                ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=8)),
                ("touched", models.DateTimeField(auto_now=True)),
            ],
            options={"abstract": False},
            bases=(bulk_tracker.models.BulkTrackerModel,),
        ),
        migrations.CreateModel(
            name="PlainStamp",
            fields=[
                _id(),
                ("title", models.CharField(max_length=50)),
                ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=8)),
                ("touched", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]

import django
from django.db import migrations, models

CHECK = "condition" if django.VERSION >= (5, 1) else "check"  # CheckConstraint's keyword


def constraints(prefix):
    return [
        models.UniqueConstraint(condition=models.Q(("active", True)), fields=("slug",), name=f"{prefix}_active_slug"),
        models.CheckConstraint(**{CHECK: models.Q(("qty__gte", 0))}, name=f"{prefix}_qty_not_negative"),
    ]


def fields():
    return [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("code", models.CharField(blank=True, max_length=20, null=True, unique=True)),
        ("slug", models.CharField(default="", max_length=20)),
        ("active", models.BooleanField(default=False)),
        ("qty", models.IntegerField(default=0)),
        ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=8)),
        ("at", models.DateTimeField(blank=True, null=True)),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0008_keys"),
    ]

    operations = [
        migrations.CreateModel(name="Tally", fields=fields(), options={"constraints": constraints("tally")}),
        migrations.CreateModel(name="PlainTally", fields=fields(), options={"constraints": constraints("plain_tally")}),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0004_related_writes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Memo",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=20, unique=True)),
                ("body", models.CharField(default="", max_length=50)),
                ("count", models.IntegerField(default=0)),
                ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=6)),
            ],
        ),
        migrations.CreateModel(
            name="PlainMemo",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=20, unique=True)),
                ("body", models.CharField(default="", max_length=50)),
                ("count", models.IntegerField(default=0)),
                ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=6)),
            ],
        ),
    ]

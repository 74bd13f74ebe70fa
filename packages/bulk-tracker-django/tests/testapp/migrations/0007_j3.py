from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0006_j4"),
    ]

    operations = [
        migrations.CreateModel(
            name="Ladder",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("rank", models.IntegerField(unique=True)),
                ("name", models.CharField(default="", max_length=20)),
            ],
        ),
        migrations.CreateModel(
            name="PlainLadder",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("rank", models.IntegerField(unique=True)),
                ("name", models.CharField(default="", max_length=20)),
            ],
        ),
    ]

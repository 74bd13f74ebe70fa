import uuid

import django
import django.db.models.deletion
from django.db import migrations, models

import testapp.models


class Migration(migrations.Migration):

    dependencies = [
        ('testapp', '0007_j3'),
    ]

    operations = [
        migrations.CreateModel(
            name='Coupon',
            fields=[
                ('id', testapp.models.HashidField(primary_key=True, serialize=False)),
                ('code', models.CharField(default='', max_length=20)),
                ('uses', models.IntegerField(default=0)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='PlainCoupon',
            fields=[
                ('id', testapp.models.HashidField(primary_key=True, serialize=False)),
                ('code', models.CharField(default='', max_length=20)),
                ('uses', models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='PlainVoucher',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('label', models.CharField(default='', max_length=20)),
            ],
        ),
        migrations.CreateModel(
            name='Voucher',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('label', models.CharField(default='', max_length=20)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='PlainRedemption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('note', models.CharField(default='', max_length=20)),
                ('coupon', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='redemptions', to='testapp.plaincoupon')),
                ('spare', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='spare_redemptions', to='testapp.plaincoupon')),
            ],
        ),
        migrations.CreateModel(
            name='Redemption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('note', models.CharField(default='', max_length=20)),
                ('coupon', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='redemptions', to='testapp.coupon')),
                ('spare', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='spare_redemptions', to='testapp.coupon')),
            ],
            options={
                'abstract': False,
            },
        ),
    ]

if django.VERSION >= (5, 2):  # CompositePrimaryKey; the models are defined only there too
    Migration.operations += [
        migrations.CreateModel(
            name='Carrier',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=20)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='PlainCarrier',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=20)),
            ],
        ),
        migrations.CreateModel(
            name='Consignment',
            fields=[
                ('pk', models.CompositePrimaryKey('carrier', 'number', blank=True, editable=False, primary_key=True, serialize=False)),
                ('number', models.IntegerField()),
                ('label', models.CharField(default='', max_length=20)),
                ('weight', models.IntegerField(default=0)),
                ('carrier', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parcels', to='testapp.carrier')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='PlainConsignment',
            fields=[
                ('pk', models.CompositePrimaryKey('carrier', 'number', blank=True, editable=False, primary_key=True, serialize=False)),
                ('number', models.IntegerField()),
                ('label', models.CharField(default='', max_length=20)),
                ('weight', models.IntegerField(default=0)),
                ('carrier', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parcels', to='testapp.plaincarrier')),
            ],
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="inbounddelivery", name="body_size", field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunSQL("UPDATE providers_inbounddelivery SET body_size = octet_length(body)",
                          migrations.RunSQL.noop),
    ]

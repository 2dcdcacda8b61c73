"""Payloads not yet delivered are rewritten in the compact form they are sent in.

Sending now posts the stored text as it is (see OrderedJSONField); rows written before
were stored with spaces after separators. Rewriting the owed ones keeps every request
body byte for byte what catalog.payloads.encode makes. Finished rows are left as they are.
"""

from django.db import migrations

OWED = ["pending", "sending", "waiting"]


def compact(apps, schema_editor):
    Delivery = apps.get_model("webhooks", "Delivery")
    for pk, payload in Delivery.objects.filter(status__in=OWED).values_list("pk", "payload").iterator():
        # The field decodes the text on reading and writes it back compact.
        Delivery.objects.filter(pk=pk).update(payload=payload)


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0003_signing_auth_headers_exports")]

    operations = [migrations.RunPython(compact, migrations.RunPython.noop)]

"""Every admin page renders, on the demo data, for a superuser."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from server.models import User


@pytest.mark.django_db
def test_every_admin_list_and_first_record_render() -> None:
    call_command("seed_demo", "--scale", "small", "--seed", "3", verbosity=0)
    client = Client()
    client.force_login(User.objects.get(username="admin"))

    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        listed = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listed.status_code == 200, meta.label
        first = model_admin.get_queryset(listed.wsgi_request).first()
        if first is not None:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert client.get(url).status_code == 200, meta.label

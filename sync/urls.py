from django.urls import path

from sync import api

urlpatterns = [path("audit/", api.AuditEntryListApi.as_view(), name="audit-list")]

from django.urls import path

from sync import api

urlpatterns = [
    path("audit/", api.AuditEntryListApi.as_view(), name="audit-list"),
    path("sync/rejections/", api.RejectionListApi.as_view(), name="sync-rejection-list"),
    path(
        "sync/rejections/<int:rejection_id>/resolve/",
        api.RejectionResolveApi.as_view(),
        name="sync-rejection-resolve",
    ),
]

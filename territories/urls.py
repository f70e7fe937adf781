from django.urls import path

from territories import api

urlpatterns = [
    path(
        "territory-models/", api.TerritoryModelListCreateApi.as_view(), name="territory-model-list"
    ),
    path(
        "territory-models/<int:model_id>/",
        api.TerritoryModelDetailApi.as_view(),
        name="territory-model-detail",
    ),
    path(
        "territory-models/<int:model_id>/clone/",
        api.TerritoryModelCloneApi.as_view(),
        name="territory-model-clone",
    ),
    path(
        "territory-models/<int:model_id>/import/",
        api.TerritoryModelImportApi.as_view(),
        name="territory-model-import",
    ),
    path(
        "territory-models/<int:model_id>/export/",
        api.TerritoryModelExportApi.as_view(),
        name="territory-model-export",
    ),
    path(
        "territory-models/<int:model_id>/assign/",
        api.TerritoryModelAssignApi.as_view(),
        name="territory-model-assign",
    ),
    path(
        "territory-models/<int:model_id>/preview/",
        api.TerritoryModelPreviewApi.as_view(),
        name="territory-model-preview",
    ),
    path(
        "territory-models/<int:model_id>/activate/",
        api.TerritoryModelActivateApi.as_view(),
        name="territory-model-activate",
    ),
    path("territory-jobs/", api.TerritoryJobListApi.as_view(), name="territory-job-list"),
    path(
        "territory-jobs/<int:job_id>/",
        api.TerritoryJobDetailApi.as_view(),
        name="territory-job-detail",
    ),
    path("territories/", api.TerritoryListApi.as_view(), name="territory-list"),
    path("territories/locate/", api.TerritoryLocateApi.as_view(), name="territory-locate"),
    path(
        "territories/<int:territory_id>/members/",
        api.TerritoryMemberListCreateApi.as_view(),
        name="territory-members",
    ),
    path("territory-types/", api.TerritoryTypeListCreateApi.as_view(), name="territory-type-list"),
    path("territory-overrides/", api.OverrideListApi.as_view(), name="territory-override-list"),
    path(
        "territory-overrides/<int:override_id>/",
        api.OverrideDetailApi.as_view(),
        name="territory-override-detail",
    ),
    path(
        "territory-assignments/",
        api.AssignmentHistoryApi.as_view(),
        name="territory-assignment-history",
    ),
]

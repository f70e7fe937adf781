from django.urls import path

from field_service import api

urlpatterns = [
    path("technicians/", api.TechnicianListApi.as_view(), name="technician-list"),
    path(
        "attachments/<str:attachment_id>/upload/",
        api.AttachmentUploadRequestApi.as_view(),
        name="attachment-upload-request",
    ),
    path(
        "attachments/<str:attachment_id>/complete/",
        api.AttachmentUploadCompleteApi.as_view(),
        name="attachment-upload-complete",
    ),
    path(
        "attachment-uploads/<str:token>/",
        api.AttachmentUploadApi.as_view(),
        name="attachment-upload",
    ),
    path(
        "work-orders/<str:work_order_id>/report/",
        api.WorkOrderReportApi.as_view(),
        name="work-order-report",
    ),
    path(
        "maintenance-plans/",
        api.MaintenancePlanListCreateApi.as_view(),
        name="maintenance-plan-list",
    ),
    path(
        "maintenance-plans/<int:plan_id>/generate/",
        api.MaintenancePlanGenerateApi.as_view(),
        name="maintenance-plan-generate",
    ),
    path("day-plans/", api.DayPlanCreateApi.as_view(), name="day-plan-create"),
    path("day-plans/<int:plan_id>/", api.DayPlanDetailApi.as_view(), name="day-plan-detail"),
    path(
        "day-plans/<int:plan_id>/accept/",
        api.DayPlanAcceptApi.as_view(),
        name="day-plan-accept",
    ),
    path(
        "technicians/me/location/",
        api.TechnicianLocationApi.as_view(),
        name="technician-location",
    ),
    path("work-orders/", api.WorkOrderListCreateApi.as_view(), name="work-order-list"),
    path(
        "work-orders/<str:work_order_id>/",
        api.WorkOrderDetailApi.as_view(),
        name="work-order-detail",
    ),
    path(
        "work-orders/<str:work_order_id>/transition/",
        api.WorkOrderTransitionApi.as_view(),
        name="work-order-transition",
    ),
    path(
        "work-orders/<str:work_order_id>/transitions/",
        api.WorkOrderTransitionListApi.as_view(),
        name="work-order-transitions",
    ),
    path(
        "work-orders/<str:work_order_id>/suggestions/",
        api.WorkOrderSuggestionsApi.as_view(),
        name="work-order-suggestions",
    ),
    path(
        "work-orders/<str:work_order_id>/sla/",
        api.WorkOrderSlaApi.as_view(),
        name="work-order-sla",
    ),
    path(
        "work-orders/<str:work_order_id>/assign/",
        api.WorkOrderAssignApi.as_view(),
        name="work-order-assign",
    ),
]

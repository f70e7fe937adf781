"""REST endpoints for work orders. Views parse input, load through
``field_service.permissions``, call one service or selector, and shape the output."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from crm.models import Account, Asset, Site
from crm.permissions import access_account
from crm.serializers import ScopedRelatedField
from field_service import selectors
from field_service.models import (
    WORK_ORDER_READ_FIELDS,
    Attachment,
    CrewMember,
    DayPlanProposal,
    MaintenancePlan,
    PlanKind,
    Priority,
    Source,
    State,
    WorkOrder,
    WorkOrderKind,
    WorkOrderTransition,
)
from field_service.permissions import access_day_plan, access_work_order
from field_service.report import completion_report
from field_service.selectors import technician_list
from field_service.services.attachments import (
    attachment_receive,
    attachment_upload_complete,
    attachment_upload_request,
)
from field_service.services.day_plans import day_plan_accept, day_plan_start
from field_service.services.dispatch import work_order_assign
from field_service.services.maintenance import maintenance_generate, maintenance_plan_create
from field_service.services.sla import clocks
from field_service.services.technicians import technician_locate
from field_service.services.work_orders import work_order_create, work_order_transition
from field_service.suggestions import work_order_suggestions
from server.access import Capability, require_capability
from server.api import StrictInputSerializer, actor_of, paginated_response, validated
from server.errors import ApplicationError
from server.models import User


class CrewOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = CrewMember
        fields = ["technician", "is_lead", "assigned_at"]


class WorkOrderOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    crew = CrewOutput(source="members", many=True, read_only=True)

    class Meta:
        model = WorkOrder
        fields = ["id", *WORK_ORDER_READ_FIELDS]


class TransitionOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = WorkOrderTransition
        fields = ["from_state", "to_state", "at", "device_at", "reason", "actor", "device_id"]


class WorkOrderInput(StrictInputSerializer):
    site = ScopedRelatedField(Site)
    asset = ScopedRelatedField(Asset, allow_null=True, required=False)
    kind = serializers.ChoiceField(choices=WorkOrderKind.choices)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    required_skills = serializers.DictField(child=serializers.IntegerField(), required=False)
    required_certifications = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False
    )
    estimated_minutes = serializers.IntegerField(min_value=1, required=False)
    time_windows = serializers.ListField(child=serializers.DictField(), required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)  # type: ignore[assignment]


class TransitionInput(StrictInputSerializer):
    state = serializers.ChoiceField(choices=State.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    device_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AssignInput(StrictInputSerializer):
    technicians = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    lead = serializers.IntegerField(required=False)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    dispatch = serializers.BooleanField(required=False, default=False)
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


def _site_input(
    request: Request, serializer: type[StrictInputSerializer]
) -> tuple[User, Account, Site, dict[str, Any]]:
    """Input naming a site (of an account the actor may change), for those who manage jobs:
    the capability is checked before the ids given are resolved."""
    actor = actor_of(request)
    require_capability(actor, Capability.WORK_ORDER_MANAGE)
    data = validated(serializer, request.data, context={"actor": actor})
    site: Site = data.pop("site")
    account = access_account(actor=actor, account_id=site.account_id, for_update=True)
    return actor, account, site, data


def _detail(work_order: WorkOrder) -> dict[str, Any]:
    fresh = WorkOrder.objects.prefetch_related("members").get(pk=work_order.pk)
    data: dict[str, Any] = WorkOrderOutput(fresh).data
    return data


def _users(ids: list[int]) -> dict[int, User]:
    users = {u.pk: u for u in User.objects.filter(pk__in=ids).prefetch_related("roles")}
    missing = sorted(set(ids) - set(users))
    if missing:
        raise ApplicationError(
            "invalid",
            "Unknown technicians.",
            fields={"technicians": [f"No user {pk}." for pk in missing]},
        )
    return users


class WorkOrderListCreateApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, required=False),
            OpenApiParameter("territory", str, required=False),
            OpenApiParameter("technician", int, required=False),
            OpenApiParameter("account", str, required=False),
        ],
        responses=WorkOrderOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        queryset = selectors.work_order_list(
            actor=actor_of(request), filters=request.query_params
        ).prefetch_related("members")
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=WorkOrderOutput
        )

    @extend_schema(request=WorkOrderInput, responses={201: WorkOrderOutput})
    def post(self, request: Request) -> Response:
        with transaction.atomic():
            actor, account, site, data = _site_input(request, WorkOrderInput)
            work_order = work_order_create(actor=actor, account=account, site=site, **data)
        return Response(_detail(work_order), status=status.HTTP_201_CREATED)


class WorkOrderDetailApi(APIView):
    @extend_schema(responses=WorkOrderOutput)
    def get(self, request: Request, work_order_id: str) -> Response:
        work_order = access_work_order(actor=actor_of(request), work_order_id=work_order_id)
        return Response(_detail(work_order))


class WorkOrderTransitionApi(APIView):
    """Move a job to another state; an illegal move answers 409 with the allowed ones."""

    @extend_schema(request=TransitionInput, responses=WorkOrderOutput)
    def post(self, request: Request, work_order_id: str) -> Response:
        actor = actor_of(request)
        data = validated(TransitionInput, request.data)
        with transaction.atomic():
            work_order = access_work_order(
                actor=actor, work_order_id=work_order_id, for_update=True
            )
            work_order_transition(
                actor=actor,
                work_order=work_order,
                to_state=data["state"],
                reason=data["reason"],
                device_at=data["device_at"],
            )
        return Response(_detail(work_order))


class WorkOrderTransitionListApi(APIView):
    @extend_schema(responses=TransitionOutput(many=True))
    def get(self, request: Request, work_order_id: str) -> Response:
        work_order = access_work_order(actor=actor_of(request), work_order_id=work_order_id)
        return Response(TransitionOutput(work_order.transitions.all(), many=True).data)


class WorkOrderAssignApi(APIView):
    """Give a job to a crew (the first technician leads unless ``lead`` says otherwise)."""

    @extend_schema(request=AssignInput, responses=WorkOrderOutput)
    def post(self, request: Request, work_order_id: str) -> Response:
        actor = actor_of(request)
        data = validated(AssignInput, request.data)
        ids: list[int] = data["technicians"]
        users = _users([*ids, data.get("lead", ids[0])])
        with transaction.atomic():
            work_order = access_work_order(
                actor=actor, work_order_id=work_order_id, for_update=True
            )
            work_order_assign(
                actor=actor,
                work_order=work_order,
                technicians=[users[pk] for pk in ids],
                lead=users[data.get("lead", ids[0])],
                start=data["start"],
                end=data["end"],
                dispatch=data["dispatch"],
                override_reason=data["override_reason"],
            )
        # The answer is read after the commit: the change log's counter row is not held for it.
        return Response(_detail(work_order))


class LocationInput(StrictInputSerializer):
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    taken_at = serializers.DateTimeField()


class TechnicianLocationApi(APIView):
    """A technician's device reports where it is (the dispatch board shows it)."""

    @extend_schema(request=LocationInput, responses={204: None})
    def post(self, request: Request) -> Response:
        data = validated(LocationInput, request.data)
        technician_locate(user=actor_of(request), **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DayPlanOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = DayPlanProposal
        fields = [
            "id",
            "kind",
            "territory",
            "date",
            "time_zone",
            "time_limit_s",
            "state",
            "progress",
            "result",
            "error",
            "accepted",
            "created_by",
            "created_at",
            "finished_at",
        ]


class DayPlanInput(StrictInputSerializer):
    territory = serializers.CharField(max_length=64)
    date = serializers.DateField()
    time_limit_s = serializers.FloatField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(choices=PlanKind.choices, required=False, default=PlanKind.PLAN)


class AcceptInput(StrictInputSerializer):
    work_orders = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_null=True, default=None
    )
    dispatch = serializers.BooleanField(required=False, default=False)
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class DayPlanCreateApi(APIView):
    """Optimise a territory's day (``kind=replan``: the rest of a day under way), as a task;
    poll the plan at its ``Location``."""

    @extend_schema(request=DayPlanInput, responses={202: DayPlanOutput})
    def post(self, request: Request) -> Response:
        data = validated(DayPlanInput, request.data)
        proposal = day_plan_start(actor=actor_of(request), **data)
        location = reverse("day-plan-detail", kwargs={"plan_id": proposal.pk}, request=request)
        return Response(
            DayPlanOutput(proposal).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class DayPlanDetailApi(APIView):
    @extend_schema(responses=DayPlanOutput)
    def get(self, request: Request, plan_id: int) -> Response:
        proposal = access_day_plan(actor=actor_of(request), proposal_id=plan_id)
        return Response(DayPlanOutput(proposal).data)


class DayPlanAcceptApi(APIView):
    """Accept the plan, whole or for ``work_orders``: each job is assigned through the
    manual assignment service; what no longer fits is listed under ``failed``."""

    @extend_schema(request=AcceptInput, responses=dict)
    def post(self, request: Request, plan_id: int) -> Response:
        actor = actor_of(request)
        data = validated(AcceptInput, request.data)
        proposal = access_day_plan(actor=actor, proposal_id=plan_id)
        outcome = day_plan_accept(
            actor=actor,
            proposal=proposal,
            work_order_ids=data["work_orders"],
            dispatch=data["dispatch"],
            override_reason=data["override_reason"],
        )
        return Response(outcome)


class SuggestionQuery(StrictInputSerializer):
    date = serializers.DateField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=10)


class WorkOrderSuggestionsApi(APIView):
    """The technicians best placed to take the job on its day (``?date=`` to ask for another
    day), cheapest insertion into their day first, with arrival times and reasons."""

    @extend_schema(
        parameters=[
            OpenApiParameter("date", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=dict,
    )
    def get(self, request: Request, work_order_id: str) -> Response:
        actor = actor_of(request)
        require_capability(actor, Capability.DISPATCH)
        work_order = access_work_order(actor=actor, work_order_id=work_order_id)
        query = validated(SuggestionQuery, request.query_params)
        return Response(
            work_order_suggestions(work_order, day=query.get("date"), limit=query["limit"])
        )


class WorkOrderSlaApi(APIView):
    """The job's response and resolution clocks now: target, state (ok, warning, breached,
    paused, met, missed, stopped), elapsed and remaining business seconds, deadline."""

    @extend_schema(responses=dict)
    def get(self, request: Request, work_order_id: str) -> Response:
        work_order = access_work_order(actor=actor_of(request), work_order_id=work_order_id)
        policy = work_order.sla.name if work_order.sla else None
        return Response(
            {
                "work_order": work_order.pk,
                "policy": policy,
                "clocks": [c.as_json() for c in clocks(work_order, timezone.now())],
            }
        )


class MaintenancePlanOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = MaintenancePlan
        fields = [
            "id",
            "account",
            "site",
            "asset",
            "name",
            "rrule",
            "starts_at",
            "horizon_days",
            "kind",
            "priority",
            "description",
            "required_skills",
            "required_certifications",
            "estimated_minutes",
            "active",
            "created_at",
        ]


class MaintenancePlanInput(StrictInputSerializer):
    site = ScopedRelatedField(Site)
    asset = ScopedRelatedField(Asset, allow_null=True, required=False)
    name = serializers.CharField(max_length=200)
    rrule = serializers.CharField(max_length=500)
    starts_at = serializers.DateTimeField()
    horizon_days = serializers.IntegerField(required=False, default=30)
    kind = serializers.ChoiceField(choices=WorkOrderKind.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    required_skills = serializers.DictField(child=serializers.IntegerField(), required=False)
    required_certifications = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False
    )
    estimated_minutes = serializers.IntegerField(min_value=1, required=False)


class MaintenancePlanListCreateApi(APIView):
    @extend_schema(responses=MaintenancePlanOutput(many=True))
    def get(self, request: Request) -> Response:
        require_capability(actor_of(request), Capability.WORK_ORDER_MANAGE)
        return paginated_response(
            request=request,
            view=self,
            queryset=MaintenancePlan.objects.all(),
            serializer_class=MaintenancePlanOutput,
            ordering=("-created_at", "-id"),
        )

    @transaction.atomic
    @extend_schema(request=MaintenancePlanInput, responses={201: MaintenancePlanOutput})
    def post(self, request: Request) -> Response:
        actor, account, site, data = _site_input(request, MaintenancePlanInput)
        plan = maintenance_plan_create(actor=actor, account=account, site=site, **data)
        return Response(MaintenancePlanOutput(plan).data, status=status.HTTP_201_CREATED)


class MaintenancePlanGenerateApi(APIView):
    """Create the plan's jobs up to its horizon now (idempotent)."""

    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, plan_id: int) -> Response:
        require_capability(actor_of(request), Capability.WORK_ORDER_MANAGE)
        plan = (
            MaintenancePlan.objects.select_related("site", "account", "asset")
            .filter(pk=plan_id)
            .first()
        )
        if plan is None:
            raise ApplicationError("not_found", f"No maintenance plan {plan_id}.", status=404)
        created = maintenance_generate(plans=[plan])
        return Response({"created": [job.pk for job in created]})


def _attachment(actor: User, attachment_id: str, *, for_update: bool = False) -> Attachment:
    """An attachment of a job the actor may see (404 like a missing one otherwise)."""
    queryset = Attachment.objects.select_for_update() if for_update else Attachment.objects
    attachment = queryset.filter(pk=attachment_id).first()
    if attachment is None:
        raise ApplicationError("not_found", f"No attachment {attachment_id!r}.", status=404)
    access_work_order(actor=actor, work_order_id=attachment.work_order_id)
    return attachment


class AttachmentUploadRequestApi(APIView):
    """Where to send the attachment's file: a presigned POST to S3, or (local file system) a
    signed URL of ours to PUT it to."""

    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, attachment_id: str) -> Response:
        actor = actor_of(request)
        attachment = _attachment(actor, attachment_id)
        return Response(
            attachment_upload_request(
                actor=actor, attachment=attachment, base_url=request.build_absolute_uri("/")
            )
        )


class AttachmentUploadApi(APIView):
    """The local file system's upload URL: the signed token in the path is the credential
    (as a presigned S3 request's signature is)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(request={"application/octet-stream": bytes}, responses={204: None})
    def put(self, request: Request, token: str) -> Response:
        attachment_receive(token=token, content_type=request.content_type or "", body=request.body)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AttachmentUploadCompleteApi(APIView):
    """The file is uploaded: check it against the record (409 and delete when it differs)."""

    @transaction.atomic
    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, attachment_id: str) -> Response:
        actor = actor_of(request)
        attachment = _attachment(actor, attachment_id, for_update=True)
        done = attachment_upload_complete(actor=actor, attachment=attachment)
        return Response({"id": done.pk, "uploaded_at": done.uploaded_at, "size": done.size})


class WorkOrderReportApi(APIView):
    """The job's completion report, as one self-contained HTML page."""

    @extend_schema(responses={(200, "text/html"): str})
    def get(self, request: Request, work_order_id: str) -> HttpResponse:
        work_order = access_work_order(actor=actor_of(request), work_order_id=work_order_id)
        return HttpResponse(completion_report(work_order), content_type="text/html; charset=utf-8")


class TechnicianOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    name = serializers.CharField()
    home = serializers.DictField(allow_null=True)
    location = serializers.DictField(allow_null=True)
    skills = serializers.DictField(child=serializers.IntegerField())
    certifications = serializers.ListField(child=serializers.DictField())
    shifts = serializers.ListField(child=serializers.DictField())
    territories = serializers.ListField(child=serializers.CharField())


class TechnicianListApi(APIView):
    """Technicians with their home base, last location, skills, certifications (with their
    validity), weekly shifts and territories. ``?territory=`` narrows to one."""

    @extend_schema(
        parameters=[OpenApiParameter("territory", str, required=False)],
        responses=TechnicianOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        require_capability(actor_of(request), Capability.DISPATCH)
        territory = request.query_params.get("territory") or None
        return Response(technician_list(territory=territory))

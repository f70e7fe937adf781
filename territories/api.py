"""REST endpoints for territories. Reading is open to every signed-in user; changing the map,
memberships and overrides needs ``territory.manage`` (checked in the services)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from server.api import StrictInputSerializer, actor_of, paginated_response, validated
from server.errors import ApplicationError
from server.models import User
from territories import selectors, services
from territories.models import (
    Assignment,
    JobKind,
    MemberRole,
    Membership,
    Override,
    RecordType,
    Territory,
    TerritoryJob,
    TerritoryModel,
    TerritoryType,
)


class TerritoryModelOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = TerritoryModel
        fields = [
            "id",
            "name",
            "state",
            "version",
            "cloned_from",
            "created_at",
            "activated_at",
            "archived_at",
        ]


class TerritoryOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    type = serializers.CharField(source="type.code", read_only=True)
    parent = serializers.CharField(  # type: ignore[assignment]
        source="parent.code", read_only=True, default=None
    )

    class Meta:
        model = Territory
        fields = [
            "id",
            "territory_model",
            "code",
            "name",
            "type",
            "parent",
            "order",
            "area",
            "min_lng",
            "min_lat",
            "max_lng",
            "max_lat",
            "vertices",
        ]


class TerritoryTypeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = TerritoryType
        fields = ["id", "code", "name", "priority"]


class MembershipOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Membership
        fields = ["id", "territory", "user", "role", "valid_from", "valid_to"]


class MembershipInput(StrictInputSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    role = serializers.ChoiceField(choices=MemberRole.choices)
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(required=False, allow_null=True)


class OverrideInput(StrictInputSerializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    record_id = serializers.CharField(max_length=64)
    territory_code = serializers.CharField(max_length=64)
    cause = serializers.CharField()


class OverrideOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Override
        fields = [
            "id",
            "record_type",
            "record_id",
            "territory_code",
            "cause",
            "created_by",
            "created_at",
            "removed_at",
        ]


class AssignmentOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    territory_code = serializers.CharField(source="territory.code", default=None)
    model_version = serializers.IntegerField(source="territory_model.version")

    class Meta:
        model = Assignment
        fields = [
            "id",
            "model_version",
            "record_type",
            "record_id",
            "territory",
            "territory_code",
            "reason",
            "cause",
            "valid_from",
            "valid_to",
        ]


class NameInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)


def _as_of(value: str | None) -> dt.datetime | None:
    """An ISO date or date-time (a date means its end, UTC)."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:
            parsed = dt.datetime.combine(day, dt.time.max)
    if parsed is None:
        raise ApplicationError(
            "invalid", "as_of is an ISO date or date-time.", fields={"as_of": ["Not a date."]}
        )
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def _model_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if not str(value).isdigit():
        raise ApplicationError("invalid", "model must be an id.", fields={"model": ["Not an id."]})
    return int(value)


class TerritoryModelListCreateApi(APIView):
    @extend_schema(responses=TerritoryModelOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(
            request=request,
            view=self,
            queryset=TerritoryModel.objects.all(),
            serializer_class=TerritoryModelOutput,
            ordering=("-version",),
        )

    @extend_schema(request=NameInput, responses={201: TerritoryModelOutput})
    def post(self, request: Request) -> Response:
        data = validated(NameInput, request.data)
        model = services.territory_model_create(actor=actor_of(request), name=data["name"])
        return Response(TerritoryModelOutput(model).data, status=status.HTTP_201_CREATED)


class TerritoryModelDetailApi(APIView):
    @extend_schema(responses=TerritoryModelOutput)
    def get(self, request: Request, model_id: int) -> Response:
        return Response(TerritoryModelOutput(selectors.territory_model_get(model_id)).data)


class TerritoryModelCloneApi(APIView):
    @extend_schema(request=NameInput, responses={201: TerritoryModelOutput})
    def post(self, request: Request, model_id: int) -> Response:
        data = validated(NameInput, request.data)
        source = selectors.territory_model_get(model_id)
        clone = services.territory_model_clone(
            actor=actor_of(request), source=source, name=data["name"]
        )
        return Response(TerritoryModelOutput(clone).data, status=status.HTTP_201_CREATED)


class TerritoryModelImportApi(APIView):
    """Create or replace territories of a planning model from a GeoJSON FeatureCollection;
    ``?make_valid=true`` repairs invalid polygons instead of refusing them."""

    @extend_schema(
        parameters=[OpenApiParameter("make_valid", bool, required=False)],
        request=dict,
        responses={200: TerritoryOutput(many=True)},
    )
    def post(self, request: Request, model_id: int) -> Response:
        make_valid = request.query_params.get("make_valid", "false").lower() in ("1", "true", "yes")
        territories = services.territories_import(
            actor=actor_of(request),
            model_id=model_id,
            collection=request.data,
            make_valid=make_valid,
        )
        return Response(TerritoryOutput(territories, many=True).data)


class TerritoryModelExportApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, model_id: int) -> Response:
        return Response(selectors.territory_export(selectors.territory_model_get(model_id)))


class TerritoryJobOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = TerritoryJob
        fields = [
            "id",
            "kind",
            "territory_model",
            "state",
            "stage",
            "done",
            "total",
            "result",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


def _job_started(request: Request, model_id: int, kind: str) -> Response:
    job = services.territory_job_start(actor=actor_of(request), model_id=model_id, kind=kind)
    location = reverse("territory-job-detail", kwargs={"job_id": job.pk}, request=request)
    return Response(
        TerritoryJobOutput(job).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": location},
    )


class TerritoryModelAssignApi(APIView):
    """Assign every site and account in the model, as a job (poll its ``Location``)."""

    @extend_schema(request=None, responses={202: TerritoryJobOutput})
    def post(self, request: Request, model_id: int) -> Response:
        return _job_started(request, model_id, JobKind.ASSIGN)


class TerritoryModelPreviewApi(APIView):
    """Preview what activating this planning model would change, as a job."""

    @extend_schema(request=None, responses={202: TerritoryJobOutput})
    def post(self, request: Request, model_id: int) -> Response:
        return _job_started(request, model_id, JobKind.PREVIEW)


class TerritoryModelActivateApi(APIView):
    """Activate this planning model, as a job."""

    @extend_schema(request=None, responses={202: TerritoryJobOutput})
    def post(self, request: Request, model_id: int) -> Response:
        return _job_started(request, model_id, JobKind.ACTIVATE)


class TerritoryJobListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("model", int, required=False)],
        responses=TerritoryJobOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request=request,
            view=self,
            queryset=selectors.territory_job_list(
                actor=actor_of(request), model_id=_model_id(request.query_params.get("model"))
            ),
            serializer_class=TerritoryJobOutput,
            ordering=("-created_at", "-id"),
        )


class TerritoryJobDetailApi(APIView):
    @extend_schema(responses=TerritoryJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.territory_job_get(actor=actor_of(request), job_id=job_id)
        return Response(TerritoryJobOutput(job).data)


class TerritoryListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("model", int, required=False)],
        responses=TerritoryOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        queryset = selectors.territory_list(model_id=_model_id(request.query_params.get("model")))
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=TerritoryOutput,
            ordering=("code", "id"),
        )


class TerritoryLocateApi(APIView):
    """Which territories of the active model contain a point; the first is the one
    assignment picks."""

    @extend_schema(
        parameters=[OpenApiParameter("lng", float), OpenApiParameter("lat", float)],
        responses=TerritoryOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        try:
            lng = float(request.query_params["lng"])
            lat = float(request.query_params["lat"])
        except (KeyError, ValueError):
            raise ApplicationError(
                "invalid",
                "lng and lat are required numbers.",
                fields={"lng": ["Required number."], "lat": ["Required number."]},
            ) from None
        return Response(TerritoryOutput(selectors.territories_at(lng=lng, lat=lat), many=True).data)


class TerritoryMemberListCreateApi(APIView):
    @extend_schema(responses=MembershipOutput(many=True))
    def get(self, request: Request, territory_id: int) -> Response:
        territory = _territory(territory_id)
        return Response(MembershipOutput(territory.memberships.all(), many=True).data)

    @extend_schema(request=MembershipInput, responses={201: MembershipOutput})
    def post(self, request: Request, territory_id: int) -> Response:
        data = validated(MembershipInput, request.data)
        membership = services.membership_add(
            actor=actor_of(request), territory=_territory(territory_id), **data
        )
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


def _territory(territory_id: int) -> Territory:
    territory = Territory.objects.filter(pk=territory_id).first()
    if territory is None:
        raise ApplicationError("not_found", f"No territory {territory_id}.", status=404)
    return territory


class OverrideListApi(APIView):
    """Manual placements, newest first; ``?current=true`` for those in force."""

    @extend_schema(
        parameters=[OpenApiParameter("current", bool, required=False)],
        responses=OverrideOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        current = request.query_params.get("current") in ("1", "true")
        return paginated_response(
            request=request,
            view=self,
            queryset=selectors.override_list(current=current),
            serializer_class=OverrideOutput,
            ordering=("-created_at", "-id"),
        )

    @extend_schema(request=OverrideInput, responses={201: OverrideOutput})
    def post(self, request: Request) -> Response:
        data = validated(OverrideInput, request.data)
        override = services.override_set(actor=actor_of(request), **data)
        return Response(OverrideOutput(override).data, status=status.HTTP_201_CREATED)


class OverrideDetailApi(APIView):
    @extend_schema(request=None, responses=OverrideOutput)
    def delete(self, request: Request, override_id: int) -> Response:
        override = services.override_remove(actor=actor_of(request), override_id=override_id)
        return Response(OverrideOutput(override).data)


class AssignmentHistoryApi(APIView):
    """A record's territory assignments over time; ``as_of`` gives those in force then."""

    @extend_schema(
        parameters=[
            OpenApiParameter("record_type", str),
            OpenApiParameter("record_id", str),
            OpenApiParameter("as_of", str, required=False),
        ],
        responses=AssignmentOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        record_type = params.get("record_type", "")
        if record_type not in RecordType.values or not params.get("record_id"):
            raise ApplicationError(
                "invalid",
                "record_type (site or account) and record_id are required.",
                fields={"record_type": ["Required."], "record_id": ["Required."]},
            )
        as_of = _as_of(params.get("as_of"))
        rows = selectors.assignment_history(
            record_type=record_type, record_id=params["record_id"], as_of=as_of
        )
        return Response(AssignmentOutput(rows, many=True).data)


class TerritoryTypeListCreateApi(APIView):
    @extend_schema(responses=TerritoryTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TerritoryTypeSerializer(TerritoryType.objects.all(), many=True).data)

    @extend_schema(request=TerritoryTypeSerializer, responses={201: TerritoryTypeSerializer})
    def post(self, request: Request) -> Response:
        serializer = TerritoryTypeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = services.territory_type_create(
            actor=actor_of(request), **serializer.validated_data
        )
        return Response(TerritoryTypeSerializer(created).data, status=status.HTTP_201_CREATED)

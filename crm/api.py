"""REST endpoints for customers. Views parse input, load through ``crm.permissions``, call one
service or selector, and shape the output."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import payloads, selectors, services
from crm import serializers as s
from crm.models import Asset, Contact, Interaction, Promise, Site
from crm.permissions import access_account, access_account_record, can_view_sensitive
from server.access import Capability
from server.api import actor_of, paginated_response, validated
from server.errors import ApplicationError


def _account_context(request: Request) -> dict[str, Any]:
    return {"can_view_sensitive": can_view_sensitive(actor_of(request))}


def _input_context(request: Request) -> dict[str, Any]:
    return {"actor": actor_of(request)}


# ---- accounts --------------------------------------------------------------------------------


class AccountListCreateApi(APIView):
    @extend_schema(responses=s.AccountOutput(many=True))
    def get(self, request: Request) -> Response:
        actor = actor_of(request)
        queryset = selectors.account_list(actor=actor, filters=request.query_params)
        show_sensitive = can_view_sensitive(actor)

        def present(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            sites, tags = selectors.account_list_related([row["id"] for row in rows])
            return payloads.accounts(
                rows, sites=sites, tags=tags, can_view_sensitive=show_sensitive
            )

        return paginated_response(request=request, view=self, queryset=queryset, present=present)

    @transaction.atomic
    @extend_schema(request=s.AccountInput, responses={201: s.AccountOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.AccountInput, request.data)
        account = services.account_create(actor=actor_of(request), **data)
        output = s.AccountOutput(
            selectors.account_detail(account), context=_account_context(request)
        )
        return Response(output.data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    @extend_schema(responses=s.AccountOutput)
    def get(self, request: Request, account_id: str) -> Response:
        account = access_account(actor=actor_of(request), account_id=account_id)
        output = s.AccountOutput(
            selectors.account_detail(account), context=_account_context(request)
        )
        return Response(output.data)

    @transaction.atomic
    @extend_schema(request=s.AccountInput, responses=s.AccountOutput)
    def patch(self, request: Request, account_id: str) -> Response:
        account = access_account(actor=actor_of(request), account_id=account_id, for_update=True)
        data = validated(s.AccountInput, request.data, partial=True)
        services.account_update(actor=actor_of(request), account=account, **data)
        output = s.AccountOutput(
            selectors.account_detail(account), context=_account_context(request)
        )
        return Response(output.data)


class AccountArchiveApi(APIView):
    @transaction.atomic
    @extend_schema(request=None, responses=s.AccountOutput)
    def post(self, request: Request, account_id: str) -> Response:
        account = access_account(actor=actor_of(request), account_id=account_id, for_update=True)
        services.account_archive(actor=actor_of(request), account=account)
        output = s.AccountOutput(
            selectors.account_detail(account), context=_account_context(request)
        )
        return Response(output.data)


class AccountPreferenceListApi(APIView):
    @extend_schema(responses=s.PreferenceOutput(many=True))
    def get(self, request: Request, account_id: str) -> Response:
        account = access_account(actor=actor_of(request), account_id=account_id)
        return Response(
            s.PreferenceOutput(selectors.preference_list(account=account), many=True).data
        )


class AccountPreferenceSetApi(APIView):
    @transaction.atomic
    @extend_schema(request=s.PreferenceInput, responses=s.PreferenceOutput)
    def put(self, request: Request, account_id: str, channel: str) -> Response:
        if channel not in s.CHANNELS:
            raise ApplicationError("not_found", f"Unknown channel {channel!r}.", status=404)
        data = validated(s.PreferenceInput, request.data, context=_input_context(request))
        account = access_account(actor=actor_of(request), account_id=account_id, for_update=True)
        preference = services.preference_set(
            actor=actor_of(request),
            account=account,
            contact=data.pop("contact", None),
            channel=channel,
            **data,
        )
        return Response(s.PreferenceOutput(preference).data)


# ---- records that belong to an account ---------------------------------------------------------


class _AccountRecordApi(APIView):
    """List/create and detail/update/archive for one kind of account-owned record."""

    model: type[Any]
    input_serializer: type[Any]
    output_serializer: type[Any]
    list_selector: Any
    create_service: Any
    update_service: Any
    archive_service: Any
    record_arg: str

    def _output(self, record: Any) -> Response:
        return Response(self.output_serializer(record).data)


class _ListCreate(_AccountRecordApi):
    def get(self, request: Request) -> Response:
        queryset = type(self).list_selector(actor=actor_of(request), filters=request.query_params)
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=self.output_serializer
        )

    @transaction.atomic
    def post(self, request: Request) -> Response:
        data = validated(self.input_serializer, request.data, context=_input_context(request))
        account = access_account(
            actor=actor_of(request), account_id=data.pop("account"), for_update=True
        )
        record = type(self).create_service(actor=actor_of(request), account=account, **data)
        return Response(self.output_serializer(record).data, status=status.HTTP_201_CREATED)


class _Detail(_AccountRecordApi):
    def get(self, request: Request, record_id: str) -> Response:
        record = access_account_record(self.model, actor=actor_of(request), record_id=record_id)
        return self._output(record)

    @transaction.atomic
    def patch(self, request: Request, record_id: str) -> Response:
        data = validated(
            self.input_serializer, request.data, partial=True, context=_input_context(request)
        )
        record = access_account_record(
            self.model,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
        )
        type(self).update_service(actor=actor_of(request), **{self.record_arg: record}, **data)
        return self._output(record)


class _Archive(_AccountRecordApi):
    @transaction.atomic
    def post(self, request: Request, record_id: str) -> Response:
        record = access_account_record(
            self.model,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
        )
        type(self).archive_service(actor=actor_of(request), **{self.record_arg: record})
        return self._output(record)


class _Contact:
    model = Contact
    input_serializer = s.ContactInput
    output_serializer = s.ContactOutput
    list_selector = selectors.contact_list
    create_service = services.contact_create
    update_service = services.contact_update
    archive_service = services.contact_archive
    record_arg = "contact"


class _Site:
    model = Site
    input_serializer = s.SiteInput
    output_serializer = s.SiteOutput
    list_selector = selectors.site_list
    create_service = services.site_create
    update_service = services.site_update
    archive_service = services.site_archive
    record_arg = "site"


class _Asset:
    model = Asset
    input_serializer = s.AssetInput
    output_serializer = s.AssetOutput
    list_selector = selectors.asset_list
    create_service = services.asset_create
    update_service = services.asset_update
    archive_service = services.asset_archive
    record_arg = "asset"


@extend_schema(request=s.ContactInput, responses=s.ContactOutput)
class ContactListCreateApi(_Contact, _ListCreate):
    pass


@extend_schema(request=s.ContactInput, responses=s.ContactOutput)
class ContactDetailApi(_Contact, _Detail):
    pass


@extend_schema(request=None, responses=s.ContactOutput)
class ContactArchiveApi(_Contact, _Archive):
    pass


@extend_schema(request=s.SiteInput, responses=s.SiteOutput)
class SiteListCreateApi(_Site, _ListCreate):
    pass


@extend_schema(request=s.SiteInput, responses=s.SiteOutput)
class SiteDetailApi(_Site, _Detail):
    pass


@extend_schema(request=None, responses=s.SiteOutput)
class SiteArchiveApi(_Site, _Archive):
    pass


class AssetListCreateApi(_Asset, _ListCreate):
    @extend_schema(responses=s.AssetOutput(many=True))
    def get(self, request: Request) -> Response:
        return super().get(request)

    @transaction.atomic
    @extend_schema(request=s.AssetInput, responses={201: s.AssetOutput})
    def post(self, request: Request) -> Response:
        """An asset's account is its site's account."""
        data = validated(s.AssetInput, request.data, context=_input_context(request))
        account = access_account(
            actor=actor_of(request),
            account_id=data["site"].account_id,
            for_update=True,
        )
        asset = services.asset_create(actor=actor_of(request), account=account, **data)
        return Response(s.AssetOutput(asset).data, status=status.HTTP_201_CREATED)


@extend_schema(request=s.AssetInput, responses=s.AssetOutput)
class AssetDetailApi(_Asset, _Detail):
    pass


@extend_schema(request=None, responses=s.AssetOutput)
class AssetArchiveApi(_Asset, _Archive):
    pass


# ---- interactions and promises -----------------------------------------------------------------


class InteractionListCreateApi(APIView):
    @extend_schema(responses=s.InteractionOutput(many=True))
    def get(self, request: Request) -> Response:
        queryset = selectors.interaction_list(actor=actor_of(request), filters=request.query_params)
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=s.InteractionOutput,
            ordering=("-occurred_at", "-id"),
        )

    @transaction.atomic
    @extend_schema(request=s.InteractionInput, responses={201: s.InteractionOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.InteractionInput, request.data, context=_input_context(request))
        account = access_account(actor=actor_of(request), account_id=data.pop("account"))
        interaction = services.interaction_create(actor=actor_of(request), account=account, **data)
        output = s.InteractionOutput(selectors.interaction_detail(interaction))
        return Response(output.data, status=status.HTTP_201_CREATED)


class InteractionDetailApi(APIView):
    @extend_schema(responses=s.InteractionOutput)
    def get(self, request: Request, record_id: str) -> Response:
        interaction = access_account_record(
            Interaction, actor=actor_of(request), record_id=record_id
        )
        return Response(s.InteractionOutput(selectors.interaction_detail(interaction)).data)

    @transaction.atomic
    @extend_schema(request=s.InteractionInput, responses=s.InteractionOutput)
    def patch(self, request: Request, record_id: str) -> Response:
        data = validated(
            s.InteractionInput, request.data, partial=True, context=_input_context(request)
        )
        if "promises" in data:
            raise ApplicationError(
                "unknown_field",
                "Add promises through /interactions/{id}/promises.",
                fields={"promises": ["Read-only here."]},
            )
        interaction = access_account_record(
            Interaction,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        services.interaction_update(actor=actor_of(request), interaction=interaction, **data)
        return Response(s.InteractionOutput(selectors.interaction_detail(interaction)).data)


class InteractionArchiveApi(APIView):
    @transaction.atomic
    @extend_schema(request=None, responses=s.InteractionOutput)
    def post(self, request: Request, record_id: str) -> Response:
        interaction = access_account_record(
            Interaction,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        services.interaction_archive(actor=actor_of(request), interaction=interaction)
        return Response(s.InteractionOutput(selectors.interaction_detail(interaction)).data)


class PromiseCreateApi(APIView):
    @transaction.atomic
    @extend_schema(request=s.PromiseInput, responses={201: s.PromiseOutput})
    def post(self, request: Request, record_id: str) -> Response:
        data = validated(s.PromiseInput, request.data)
        interaction = access_account_record(
            Interaction,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        promise = services.promise_create(actor=actor_of(request), interaction=interaction, **data)
        return Response(s.PromiseOutput(promise).data, status=status.HTTP_201_CREATED)


class PromiseUpdateApi(APIView):
    @transaction.atomic
    @extend_schema(request=s.PromiseUpdateInput, responses=s.PromiseOutput)
    def patch(self, request: Request, record_id: str) -> Response:
        data = validated(s.PromiseUpdateInput, request.data)
        promise = access_account_record(
            Promise,
            actor=actor_of(request),
            record_id=record_id,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        services.promise_update(actor=actor_of(request), promise=promise, **data)
        return Response(s.PromiseOutput(promise).data)


# ---- reference data --------------------------------------------------------------------------


class TierListCreateApi(APIView):
    @extend_schema(responses=s.TierOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.TierOutput(selectors.tier_list(), many=True).data)

    @transaction.atomic
    @extend_schema(request=s.TierInput, responses={201: s.TierOutput})
    def post(self, request: Request) -> Response:
        tier = services.tier_create(actor=actor_of(request), **validated(s.TierInput, request.data))
        return Response(s.TierOutput(tier).data, status=status.HTTP_201_CREATED)


class TagListCreateApi(APIView):
    @extend_schema(responses=s.TagOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.TagOutput(selectors.tag_list(), many=True).data)

    @transaction.atomic
    @extend_schema(request=s.TagInput, responses={201: s.TagOutput})
    def post(self, request: Request) -> Response:
        tag = services.tag_create(actor=actor_of(request), **validated(s.TagInput, request.data))
        return Response(s.TagOutput(tag).data, status=status.HTTP_201_CREATED)

from django.urls import path

from crm import api

urlpatterns = [
    path("accounts/", api.AccountListCreateApi.as_view(), name="account-list"),
    path("accounts/<str:account_id>/", api.AccountDetailApi.as_view(), name="account-detail"),
    path(
        "accounts/<str:account_id>/archive/",
        api.AccountArchiveApi.as_view(),
        name="account-archive",
    ),
    path(
        "accounts/<str:account_id>/preferences/",
        api.AccountPreferenceListApi.as_view(),
        name="account-preferences",
    ),
    path(
        "accounts/<str:account_id>/preferences/<str:channel>/",
        api.AccountPreferenceSetApi.as_view(),
        name="account-preference-set",
    ),
    path("contacts/", api.ContactListCreateApi.as_view(), name="contact-list"),
    path("contacts/<str:record_id>/", api.ContactDetailApi.as_view(), name="contact-detail"),
    path(
        "contacts/<str:record_id>/archive/", api.ContactArchiveApi.as_view(), name="contact-archive"
    ),
    path("sites/", api.SiteListCreateApi.as_view(), name="site-list"),
    path("sites/<str:record_id>/", api.SiteDetailApi.as_view(), name="site-detail"),
    path("sites/<str:record_id>/archive/", api.SiteArchiveApi.as_view(), name="site-archive"),
    path("assets/", api.AssetListCreateApi.as_view(), name="asset-list"),
    path("assets/<str:record_id>/", api.AssetDetailApi.as_view(), name="asset-detail"),
    path("assets/<str:record_id>/archive/", api.AssetArchiveApi.as_view(), name="asset-archive"),
    path("interactions/", api.InteractionListCreateApi.as_view(), name="interaction-list"),
    path(
        "interactions/<str:record_id>/",
        api.InteractionDetailApi.as_view(),
        name="interaction-detail",
    ),
    path(
        "interactions/<str:record_id>/archive/",
        api.InteractionArchiveApi.as_view(),
        name="interaction-archive",
    ),
    path(
        "interactions/<str:record_id>/promises/",
        api.PromiseCreateApi.as_view(),
        name="interaction-promise-create",
    ),
    path("promises/<str:record_id>/", api.PromiseUpdateApi.as_view(), name="promise-update"),
    path("tiers/", api.TierListCreateApi.as_view(), name="tier-list"),
    path("tags/", api.TagListCreateApi.as_view(), name="tag-list"),
]

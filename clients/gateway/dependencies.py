"""What the routers share, made once per app and handed to each route as a dependency.

``create_app`` keeps one ``GatewayContext`` on ``app.state``; routes ask for it (``Context``)
or for an admitted caller (``ManifestReader`` and the like) instead of closing over locals, so
that the routers can live in their own modules and serve any number of apps.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from clients.gateway.auth import Authenticator, Caller, parse_device_tokens
from clients.gateway.bodies import BodyBudget
from clients.gateway.manifests import PublishedManifests
from clients.gateway.settings import GatewaySettings
from clients.gateway.web_models import WebModels
from clients.gateway.web_tokens import WebTokenSigner
from edgeline_contract.scopes import IMAGES_WRITE, MANIFEST_READ, TELEMETRY_WRITE
from resources.artifacts import ArtifactStore
from resources.telemetry import TelemetryStore


@dataclass(frozen=True)
class GatewayContext:
    """One app's settings, stores and admission (tokens and rate limits), for its routes."""

    settings: GatewaySettings
    artifacts: ArtifactStore
    telemetry: TelemetryStore
    auth: Authenticator  # its rate-limit buckets live as long as the app
    bodies: BodyBudget  # telemetry bodies being received
    uploads: BodyBudget  # images being received
    manifests: PublishedManifests  # read once per published version
    web_models: WebModels  # the image models pages may open

    @classmethod
    def build(
        cls, settings: GatewaySettings, artifacts: ArtifactStore, telemetry: TelemetryStore
    ) -> "GatewayContext":
        """The context for ``settings``: web tokens only where a secret signs them."""
        secret = settings.web_secret
        signer = (
            WebTokenSigner(secret.get_secret_value().encode(), settings.web_token_ttl_s)
            if secret
            else None
        )
        auth = Authenticator(
            parse_device_tokens(settings.tokens), signer, settings.web_rates, settings.device_rates
        )
        bodies = BodyBudget(
            settings.bodies_in_flight, settings.bodies_per_token, settings.body_timeout_s
        )
        uploads = BodyBudget(
            settings.uploads_in_flight, settings.uploads_per_token, settings.upload_timeout_s
        )
        manifests = PublishedManifests(artifacts)
        web_models = WebModels(settings, artifacts, manifests)
        return cls(settings, artifacts, telemetry, auth, bodies, uploads, manifests, web_models)


async def gateway_context(request: Request) -> GatewayContext:
    """The serving app's context (each app has its own stores and rate limits). Async, as
    ``admit`` below: FastAPI runs a plain function's dependency in a worker thread, two trips
    through the thread pool for every request."""
    return request.app.state.gateway


Context = Annotated[GatewayContext, Depends(gateway_context)]


def requires(scope: str) -> Callable[..., Caller]:
    """A dependency that admits callers allowed ``scope`` (401, 403 or 429 for the others)."""

    async def admit(context: Context, authorization: str | None = Header(default=None)) -> Caller:
        return context.auth.caller(authorization, scope)  # no I/O: the buckets are in memory

    return admit


ManifestReader = Annotated[Caller, Depends(requires(MANIFEST_READ))]
TelemetryWriter = Annotated[Caller, Depends(requires(TELEMETRY_WRITE))]
ImageWriter = Annotated[Caller, Depends(requires(IMAGES_WRITE))]

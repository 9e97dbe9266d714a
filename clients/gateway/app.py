"""The gateway: an ASGI app (FastAPI). Locally: ``python -m clients.gateway`` (uvicorn); on AWS
Lambda behind API Gateway: ``clients.gateway.lambda_handler.handler`` (Mangum).

``create_app`` wires the routers (``routers/`` and the page's in ``web_files``) to one app's
stores and settings; the routes reach them through ``dependencies``."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.gateway.bodies import field_errors
from clients.gateway.dependencies import GatewayContext
from clients.gateway.routers import images, models, telemetry, tokens
from clients.gateway.settings import GatewaySettings, settings_from_environment
from clients.gateway.web_files import WebFiles
from clients.gateway.web_files import router as page_router
from resources.artifacts import ArtifactStore
from resources.telemetry import TelemetryStore

# the page may run threaded wasm only when cross-origin isolated; the page's own policy keeps
# every script and worker on this origin, and its requests on this origin and the artifact
# store's (presigned S3 downloads)
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "X-Content-Type-Options": "nosniff",
}
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "connect-src 'self'{store}; img-src 'self' blob: data:; style-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# /docs lists the routes in the order the routers are included
API_ROUTERS = (tokens.router, models.router, telemetry.router, images.router)


def page_policy(artifacts: ArtifactStore) -> str:
    """The page's CSP: it talks to this gateway and downloads models from the artifact store's
    origin (the bucket's, for presigned S3 URLs; this gateway's for a local store), and to
    nothing else (once ``https:``: any site)."""
    origin = artifacts.download_origin()
    return PAGE_POLICY.format(store=f" {origin}" if origin else "")


class IsolationHeaders:
    """Cross-origin isolation on every response; public model files may be embedded anywhere,
    and the page gets its CSP. Plain ASGI: starlette's BaseHTTPMiddleware ran the app of each
    request in a task of its own and passed the response through a memory stream."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(ISOLATION_HEADERS)
                public = path.startswith("/v1/artifacts/")
                headers["Cross-Origin-Resource-Policy"] = (
                    "cross-origin" if public else "same-origin"
                )
                if path == "/":
                    headers["Content-Security-Policy"] = self.policy
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    """422s that name each field and its problem, in the shape telemetry rejections use."""
    problems = field_errors(error.errors())
    return JSONResponse(status_code=422, content={"detail": "invalid request", "errors": problems})


def health() -> dict[str, str]:
    return {"status": "ok"}


def add_middleware(app: FastAPI, settings: GatewaySettings, artifacts: ArtifactStore) -> None:
    """CORS for the configured origins (if any), inside the isolation headers."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
        )
    app.add_middleware(IsolationHeaders, policy=page_policy(artifacts))


def create_app(
    settings: GatewaySettings,
    artifacts: ArtifactStore,
    telemetry: TelemetryStore,
    web_files: WebFiles | None = None,
) -> FastAPI:
    """One gateway over these stores; each app keeps its own tokens, rate limits and files."""
    app = FastAPI(
        title="Edgeline gateway",
        version="1.0.0",
        description="Manifests, models, telemetry, images, and the web client at /.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = GatewayContext.build(settings, artifacts, telemetry)
    app.state.web_files = web_files or WebFiles()
    add_middleware(app, settings, artifacts)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(page_router)
    app.add_api_route("/v1/health", health, methods=["GET"])
    for router in API_ROUTERS:
        app.include_router(router)
    return app


def app_from_environment(settings: GatewaySettings | None = None) -> FastAPI:
    """The app wired to the stores EDGELINE_ENV selects (uvicorn and Lambda entry point)."""
    from resources.environment import stores

    selected = stores()
    return create_app(
        settings or settings_from_environment(), selected["artifacts"], selected["telemetry"]
    )

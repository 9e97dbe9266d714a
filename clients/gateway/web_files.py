"""The web client's files, served by the gateway: the page at ``/``, its modules under ``/app/``,
onnxruntime-web from the installed npm package under ``/app/vendor/ort/``, the service worker at
``/sw.js`` (so that its scope is the whole site), and ``/docs`` with Swagger UI's assets.

Nothing is fetched from anywhere else. Text and wasm files go out gzip-compressed (each file is
compressed once, then kept) with an ETag; the service worker keeps them for offline use.
"""

import gzip
import hashlib
import json
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from edgeline_contract import SCHEMA_DIR

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"
ORT_PACKAGE = "onnxruntime-web"
SWAGGER_PACKAGE = "swagger-ui-dist"
# what the page needs to start offline: onnxruntime-web's wasm build (WebGPU's larger build is
# cached by the service worker the first time a browser with a real GPU loads it)
ORT_SHELL_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# every onnxruntime-web file the page loads (worker.js: the wasm build, or the WebGPU one and its
# asyncify runtime); the gateway's distribution carries these and no other build
ORT_FILES = (
    *ORT_SHELL_FILES,
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".wasm", ".json", ".svg", ".webmanifest"}
MEDIA_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}
INSTALL_HINT = "run `make install` (npm ci in clients/web) to install onnxruntime-web"


@dataclass(frozen=True)
class Encoded:
    plain: bytes
    gzipped: bytes
    etag: str
    media_type: str


class WebFiles:
    """Reads, compresses and describes the page's files; one instance per app."""

    def __init__(self, root: Path = WEB_ROOT) -> None:
        self.root = root
        self.app_dir = root / "app"
        self.ort_dir = root / "node_modules" / ORT_PACKAGE / "dist"
        self.swagger_dir = root / "node_modules" / SWAGGER_PACKAGE
        self.contract_dir = SCHEMA_DIR
        self._cache: dict[Path, tuple[float, Encoded]] = {}
        self._lock = threading.Lock()

    @property
    def installed(self) -> bool:
        return all((self.ort_dir / name).is_file() for name in ORT_SHELL_FILES)

    def ort_version(self) -> str:
        package = self.root / "node_modules" / ORT_PACKAGE / "package.json"
        return json.loads(package.read_text())["version"] if package.is_file() else "missing"

    def shell_urls(self) -> list[str]:
        """What the service worker stores on install: the page, its modules, the wasm runtime."""
        app = sorted(
            "/app/" + path.relative_to(self.app_dir).as_posix()
            for path in self.app_dir.rglob("*")
            if path.is_file()
        )
        contract = sorted(f"/app/contract/{path.name}" for path in self.contract_files())
        ort = (f"/app/vendor/ort/{name}" for name in ORT_SHELL_FILES)
        return ["/", *app, *contract, *ort]

    def contract_files(self) -> list[Path]:
        """The contract's JSON Schema files, which the page validates manifests against."""
        return sorted(self.contract_dir.glob("*.json"))

    def shell_version(self) -> str:
        """Changes whenever a shell file changes, so that browsers install the new shell."""
        digest = hashlib.sha256(self.ort_version().encode())
        shell = [self.root / "index.html", *self.app_dir.rglob("*"), *self.contract_files()]
        for path in sorted(shell):
            if path.is_file():
                digest.update(path.name.encode() + self.encoded(path).etag.encode())
        return digest.hexdigest()[:16]

    def encoded(self, path: Path, transform=None) -> Encoded:
        """The file's bytes, plain and gzipped, kept until its modification time changes."""
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._cache.get(path)
            if cached and cached[0] == mtime and transform is None:
                return cached[1]
        plain = path.read_bytes()
        if transform is not None:
            plain = transform(plain)
        suffix = path.suffix
        media = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
        gzipped = gzip.compress(plain, 6, mtime=0) if suffix in COMPRESSIBLE else b""
        encoded = Encoded(plain, gzipped, f'"{hashlib.sha256(plain).hexdigest()[:32]}"', media)
        if transform is None:
            with self._lock:
                self._cache[path] = (mtime, encoded)
        return encoded

    def respond(
        self, request: Request, path: Path, cache_control: str = "no-cache", transform=None
    ) -> Response:
        if not path.is_file():
            raise HTTPException(404, f"no file {path.name!r} in the web client")
        encoded = self.encoded(path, transform)
        headers = {"ETag": encoded.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == encoded.etag:
            return Response(status_code=304, headers=headers)
        body = encoded.plain
        if encoded.gzipped and "gzip" in request.headers.get("accept-encoding", ""):
            body = encoded.gzipped
            headers["Content-Encoding"] = "gzip"
        media = encoded.media_type
        if media.startswith("text/") or media in ("application/json", "image/svg+xml"):
            media += "; charset=utf-8"
        return Response(body, media_type=media, headers=headers)

    def inside(self, base: Path, relative: str) -> Path:
        """``base / relative`` if it is a file under ``base``; 404 otherwise, also for names no
        file can have (a NUL, a part longer than a file name may be)."""
        try:
            path = (base / relative).resolve()
            found = path.is_relative_to(base.resolve()) and path.is_file()
        except (OSError, ValueError):  # ENAMETOOLONG, "embedded null byte"
            found = False
        if not found:
            raise HTTPException(404, f"no file {relative[:100]!r} in the web client")
        return path


def web_files(request: Request) -> WebFiles:
    """The serving app's files (one ``WebFiles`` per app keeps its compressed copies)."""
    return request.app.state.web_files


Files = Annotated[WebFiles, Depends(web_files)]


def require_runtime(files: Files) -> None:
    """503 with the fix, rather than a page that cannot run, until onnxruntime-web is installed."""
    if not files.installed:
        raise HTTPException(503, f"the web client's runtime is not installed: {INSTALL_HINT}")


router = APIRouter(include_in_schema=False)
needs_runtime = [Depends(require_runtime)]


@router.get("/", dependencies=needs_runtime)
def page(request: Request, files: Files) -> Response:
    return files.respond(request, files.root / "index.html")


@router.get("/m/{model}", dependencies=needs_runtime)
def model_page(model: str, request: Request, files: Files) -> Response:
    """The page for one model: the same page, which reads the model from its address."""
    return files.respond(request, files.root / "index.html")


@router.get("/sw.js", dependencies=needs_runtime)
def service_worker(request: Request, files: Files) -> Response:
    """The service worker, told which shell to keep and its version (new files, new shell)."""
    shell = json.dumps({"version": files.shell_version(), "urls": files.shell_urls()})

    def inject(source: bytes) -> bytes:
        return source.replace(b"__EDGELINE_SHELL__", shell.encode())

    return files.respond(request, files.root / "sw.js", transform=inject)


@router.get("/app/vendor/ort/{name}", dependencies=needs_runtime)
def ort_file(name: str, request: Request, files: Files) -> Response:
    if name not in ORT_FILES:
        raise HTTPException(404, f"no onnxruntime-web file {name!r}")
    return files.respond(request, files.inside(files.ort_dir, name))


@router.get("/app/contract/{name}")
def contract_file(name: str, request: Request, files: Files) -> Response:
    return files.respond(request, files.inside(files.contract_dir, name))


@router.get("/app/{relative:path}")
def app_file(relative: str, request: Request, files: Files) -> Response:
    return files.respond(request, files.inside(files.app_dir, relative))


@router.get("/docs/vendor/{name}")
def swagger_file(name: str, request: Request, files: Files) -> Response:
    if name not in SWAGGER_FILES:
        raise HTTPException(404, f"no Swagger UI file {name!r}")
    return files.respond(request, files.inside(files.swagger_dir, name), "public, max-age=86400")


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI from this gateway's own copy, so that /docs loads nothing from elsewhere."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=request.app.title,
        swagger_js_url="/docs/vendor/swagger-ui-bundle.js",
        swagger_css_url="/docs/vendor/swagger-ui.css",
        swagger_favicon_url="/app/icon.svg",
    )

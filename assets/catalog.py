"""The models Edgeline manages, declared as data: one entry per model under ``catalog/``.

An image model is a name, its images (``raw/images/<model>/<label>/<image>``) and its training
settings (``image_classifier``'s config: augmentation, preset, sizes, epochs); a sensor model
is its profile (``raw/sensors/<profile>/profile.json``). Each declared model is a partition of
its lineage, so the Dagster UI shows each one's state and a run of one never touches another.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from edgeline_contract.profile import ProfileError, SensorProfile
from resources import layout
from resources.artifacts import ArtifactStore
from resources.errors import EdgelineError, UnknownModelError
from resources.registry import validate_model_name

ModelKind = Literal["image", "sensor"]
KINDS: tuple[ModelKind, ...] = ("image", "sensor")
# the model a home written before models were declared holds (its images were raw/images/<label>/)
SINGLE_IMAGE_MODEL = "image-classifier"


class CatalogError(EdgelineError, ValueError):
    """A declaration that cannot be stored; the message says why (nothing was changed)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: ModelKind
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # image: image_classifier's config
    profile: str | None = None  # sensor: the profile whose readings train it
    demo_images: bool = False  # image: write the synthetic demo set when it has no images
    declared_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> "ModelSpec":
        known = {k: document[k] for k in cls.__dataclass_fields__ if k in document}
        return cls(**known)


def _checked_name(name: str) -> str:
    try:
        return validate_model_name(name)
    except ValueError as error:
        raise CatalogError(str(error)) from error


def check_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` if it can be declared, else ``CatalogError`` naming the field."""
    _checked_name(spec.name)
    if spec.kind not in KINDS:
        raise CatalogError(f"model {spec.name}: kind {spec.kind!r} is not one of {KINDS}")
    if spec.kind == "sensor" and not spec.profile:
        raise CatalogError(f"sensor model {spec.name} needs the profile that trains it")
    if spec.kind == "image" and spec.profile:
        raise CatalogError(f"image model {spec.name}: a profile is for sensor models")
    if spec.kind == "sensor" and (spec.training or spec.demo_images):
        raise CatalogError(f"sensor model {spec.name}: its settings live in its profile")
    return spec


DOCUMENT_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def read_document(path: Path) -> Any:
    """The content of a YAML, TOML or JSON file (what model spec and profile files are written
    in); ValueError naming the file and what is wrong with it."""
    import tomllib

    import yaml

    suffix = path.suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        raise ValueError(f"{path}: expected a .yaml, .yml, .toml or .json file")
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: not readable: {error.strerror or error}") from None
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:  # TOML's and JSON's errors are ValueErrors
        raise ValueError(f"{path}: not readable: not valid {suffix[1:].upper()}: {error}") from None


def load_profile(path: Path) -> SensorProfile:
    """A sensor profile from a YAML, TOML or JSON file (a device reads its profile from the
    model's manifest instead: JSON, through the contract)."""
    try:
        data = read_document(path)
    except ValueError as error:
        raise ProfileError(f"profile {error}") from None
    return SensorProfile.from_dict(data, source=f"profile {path.name}")


def load_model_specs(path: Path) -> list[ModelSpec]:
    """The models a spec file declares (YAML, TOML or JSON): one model's fields, or a list
    under ``models``. Fields: name, kind (image, the default, or sensor), description,
    training (image_classifier's settings), profile (sensor)."""
    try:
        document = read_document(path)
    except ValueError as error:
        raise CatalogError(str(error)) from None
    entries = document.get("models", [document]) if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogError(f"{path}: expected a model's fields, or a list of them under 'models'")
    fields = {"name", "kind", "description", "training", "profile"}
    specs = []
    for number, entry in enumerate(entries, start=1):
        unknown = sorted(set(entry) - fields)
        if unknown or "name" not in entry:
            raise CatalogError(
                f"{path}: model {number}: "
                + (f"unknown fields {unknown}" if unknown else "no name")
                + f" (fields: {', '.join(sorted(fields))})"
            )
        specs.append(
            check_spec(
                ModelSpec(
                    str(entry["name"]),
                    entry.get("kind", "image"),
                    description=str(entry.get("description", "")),
                    training=dict(entry.get("training") or {}),
                    profile=entry.get("profile"),
                )
            )
        )
    return specs


def _declarable(store: ArtifactStore, spec: ModelSpec, replace: bool) -> ModelSpec | None:
    """The declaration ``spec`` would leave as it is (the same one), None when ``spec`` is to be
    stored, or ``CatalogError`` when it may not be."""
    check_spec(spec)
    existing = find_model(store, spec.name)
    if existing is not None and not replace:
        if _same(existing, spec):
            return existing
        raise CatalogError(
            f"model {spec.name} is already declared ({existing.kind}, "
            f"{existing.training or existing.profile or 'defaults'}): pass --replace to change it"
        )
    if existing is not None and existing.kind != spec.kind:
        raise CatalogError(
            f"model {spec.name} is an {existing.kind} model: it cannot become a {spec.kind} model"
        )
    return None


def declare_models(
    store: ArtifactStore, specs: list[ModelSpec], replace: bool = False
) -> list[ModelSpec]:
    """Declare each of ``specs``, all or none: every one is checked before any is stored."""
    names = [spec.name for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise CatalogError(f"models declared twice: {', '.join(twice)}")
    for spec in specs:
        _declarable(store, spec, replace)
    return [declare_model(store, spec, replace) for spec in specs]


def declare_model(store: ArtifactStore, spec: ModelSpec, replace: bool = False) -> ModelSpec:
    """Store ``spec`` (once; ``replace`` changes an existing one of the same kind)."""
    unchanged = _declarable(store, spec, replace)
    if unchanged is not None:
        return unchanged
    declared = ModelSpec(
        **{**spec.as_dict(), "declared_at": spec.declared_at or datetime.now(UTC).isoformat()}
    )
    store.put_json(layout.catalog_entry(spec.name), declared.as_dict())
    return declared


def _same(a: ModelSpec, b: ModelSpec) -> bool:
    return {**a.as_dict(), "declared_at": ""} == {**b.as_dict(), "declared_at": ""}


def find_model(store: ArtifactStore, name: str) -> ModelSpec | None:
    document = store.find_json(layout.catalog_entry(_checked_name(name)))
    return ModelSpec.from_dict(document) if document is not None else None


def read_model(store: ArtifactStore, name: str, kind: ModelKind | None = None) -> ModelSpec:
    """The declared model ``name`` (of ``kind``), else an error that lists the declared ones."""
    spec = find_model(store, name)
    if spec is None or (kind and spec.kind != kind):
        names = [m.name for m in declared_models(store, kind)]
        raise UnknownModelError(
            f"no {kind + ' ' if kind else ''}model {name!r} is declared (declared: "
            f"{', '.join(names) or 'none'}): `edgeline models add {name} --kind "
            f"{kind or 'image'}`, or `edgeline ingest-images FOLDER --model {name}`"
        )
    return spec


def declared_models(store: ArtifactStore, kind: ModelKind | None = None) -> list[ModelSpec]:
    """Every declared model (of ``kind``), by name."""
    specs = [
        ModelSpec.from_dict(store.get_json(key))
        for key in store.list_keys(layout.CATALOG)
        if layout.parse_catalog_entry(key)
    ]
    return sorted((s for s in specs if kind is None or s.kind == kind), key=lambda s: s.name)


def images_per_class(store: ArtifactStore, model: str) -> dict[str, int]:
    """How many files each class folder of ``model`` holds (one listing, no image read)."""
    tree = layout.model_images(model)
    counts: dict[str, int] = {}
    for key in store.list_keys(tree):
        found = layout.parse_labelled_image(tree, key)
        if found:
            counts[found[0]] = counts.get(found[0], 0) + 1
    return dict(sorted(counts.items()))


def declare_sensor_model(store: ArtifactStore, profile: SensorProfile) -> ModelSpec:
    """The model ``profile`` trains, declared (once) with it."""
    return declare_model(
        store,
        ModelSpec(profile.model, "sensor", description=profile.description, profile=profile.name),
    )


def adopt_single_model_home(store: ArtifactStore) -> int:
    """Carry a home written before models were declared over, without retraining: its images
    (``raw/images/<label>/<image>``) move to ``raw/images/image-classifier/<label>/<image>``
    and that model is declared; each stored sensor profile's model is declared. Versions and
    channels were per model name already. Each file is copied before its old key is deleted:
    a move cut short is finished by the next call. Once a home has been looked at, a marker
    says so, and later calls (every catalog sensor tick, every raw_images run) list nothing.
    Returns how many images moved."""
    if store.exists(layout.CATALOG_ADOPTED):
        return 0
    for key in store.list_keys(layout.RAW_SENSORS):
        if layout.parse_sensor_profile(key):
            profile = SensorProfile.from_dict(store.get_json(key), source=key)
            if find_model(store, profile.model) is None:
                declare_sensor_model(store, profile)
    legacy = [
        (key, found)
        for key in store.list_keys(layout.RAW_IMAGES)
        if (found := layout.parse_labelled_image(layout.RAW_IMAGES, key))
    ]
    if legacy and find_model(store, SINGLE_IMAGE_MODEL) is None:
        declare_model(
            store,
            ModelSpec(
                SINGLE_IMAGE_MODEL,
                "image",
                description="the image model of a home from before models were declared",
            ),
        )
    for key, (label, name) in legacy:
        store.put_bytes(layout.model_image(SINGLE_IMAGE_MODEL, label, name), store.get_bytes(key))
        store.delete(key)
    store.put_json(layout.CATALOG_ADOPTED, {"images_moved": len(legacy)})
    return len(legacy)

"""ModelRegistry contract: SQLite and SageMaker Model Registry (moto over HTTP), same tests."""

import pytest

from resources.errors import (
    InvalidModelNameError,
    InvalidStatusTransitionError,
    UnknownModelError,
    UnknownModelVersionError,
)
from resources.registry import APPROVED, PENDING, REJECTED
from tests.helpers import unique_name

CARD = {
    "description": "MobileNetV2, 5 classes",
    "metrics": {"test_accuracy": 0.93},
    "variants": [{"precision": "fp32", "file": "model.onnx", "sha256": "ab" * 32, "bytes": 9}],
    "lineage": {"run_id": "r1", "data_version": "d1"},
}


@pytest.fixture
def model(model_registry) -> str:
    name = unique_name("image-classifier")
    model_registry.ensure_model(name, "test model")
    return name


def test_versions_are_numbered_per_model_and_start_pending(model_registry, model):
    other = unique_name("turbine")
    model_registry.ensure_model(other)
    first = model_registry.register_version(model, CARD)
    second = model_registry.register_version(model, {**CARD, "metrics": {"test_accuracy": 0.95}})
    third_of_other = model_registry.register_version(other, CARD)
    assert (first.version, second.version, third_of_other.version) == (1, 2, 1)
    assert first.status == second.status == PENDING
    assert first.model == model
    assert first.created_at.tzinfo is not None


def test_ensure_model_is_idempotent_and_listed(model_registry, model):
    model_registry.ensure_model(model)
    assert model in model_registry.list_models()
    assert model_registry.list_models().count(model) == 1


def test_model_card_round_trip(model_registry, model):
    version = model_registry.register_version(model, CARD)
    assert model_registry.get_model_card(model, version.version) == CARD


def test_approve_and_reject_record_reason_and_actor(model_registry, model):
    model_registry.register_version(model, CARD)
    model_registry.register_version(model, CARD)
    approved = model_registry.approve(model, 1, reason="accuracy ok", by="qa@example.com")
    assert (approved.status, approved.status_reason, approved.status_by) == (
        APPROVED,
        "accuracy ok",
        "qa@example.com",
    )
    rejected = model_registry.reject(model, 2, reason="worse on night photos", by="qa2")
    assert rejected.status == REJECTED
    described = model_registry.describe_version(model, 2)
    assert (described.status_reason, described.status_by) == ("worse on night photos", "qa2")


def test_list_versions_by_status(model_registry, model):
    for _ in range(4):
        model_registry.register_version(model, CARD)
    model_registry.approve(model, 2, "ok", "qa")
    model_registry.approve(model, 4, "ok", "qa")
    model_registry.reject(model, 3, "no", "qa")
    assert [v.version for v in model_registry.list_versions(model)] == [1, 2, 3, 4]
    assert [v.version for v in model_registry.list_versions(model, APPROVED)] == [2, 4]
    assert [v.version for v in model_registry.list_versions(model, REJECTED)] == [3]
    assert [v.version for v in model_registry.list_versions(model, PENDING)] == [1]


def test_revoking_an_approved_version(model_registry, model):
    model_registry.register_version(model, CARD)
    model_registry.approve(model, 1, "ok", "qa")
    assert model_registry.reject(model, 1, "field reports", "qa").status == REJECTED


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([APPROVED], APPROVED),  # approving twice
        ([REJECTED], APPROVED),  # a rejected version stays rejected
        ([REJECTED], REJECTED),
        ([], PENDING),  # back to pending is not a decision
        ([], "Deployed"),  # not a status at all
    ],
)
def test_refused_transitions_change_nothing(model_registry, model, path, refused):
    model_registry.register_version(model, CARD)
    for status in path:
        model_registry.set_status(model, 1, status, "setup", "qa")
    before = model_registry.describe_version(model, 1)
    with pytest.raises(InvalidStatusTransitionError, match=rf"v1.*{refused}|{refused}.*v1"):
        model_registry.set_status(model, 1, refused, "again", "mallory")
    after = model_registry.describe_version(model, 1)
    assert (after.status, after.status_reason, after.status_by) == (
        before.status,
        before.status_reason,
        before.status_by,
    )


def test_unknown_model_and_version_are_named(model_registry, model):
    missing = unique_name("nobody")
    with pytest.raises(UnknownModelError, match=missing):
        model_registry.register_version(missing, CARD)
    with pytest.raises(UnknownModelError, match=missing):
        model_registry.list_versions(missing)
    with pytest.raises(UnknownModelError, match=missing):
        model_registry.approve(missing, 1, "ok", "qa")
    with pytest.raises(UnknownModelVersionError, match=r"no version 7"):
        model_registry.approve(model, 7, "ok", "qa")
    with pytest.raises(UnknownModelVersionError, match=r"no version 7"):
        model_registry.get_model_card(model, 7)
    assert missing not in model_registry.list_models()
    assert model_registry.list_versions(model) == []


@pytest.mark.parametrize("name", ["", "has space", "-leading", "under_score", "x" * 64, "../up"])
def test_invalid_model_names_are_refused(model_registry, name):
    with pytest.raises(InvalidModelNameError, match="model name"):
        model_registry.ensure_model(name)
    assert name not in model_registry.list_models()


def test_unserialisable_card_registers_nothing(model_registry, model):
    with pytest.raises(TypeError):
        model_registry.register_version(model, {"bad": object()})
    assert model_registry.list_versions(model) == []


def test_sagemaker_lists_only_this_deployments_models(moto_endpoint, s3_bucket):
    """An account holds other teams' model groups (and other Edgeline deployments'): their cards
    are not in this store, and the registry sensor once tried to publish them."""
    import boto3

    from resources import S3ArtifactStore, SageMakerModelRegistry

    ours = SageMakerModelRegistry(artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="a"))
    theirs = SageMakerModelRegistry(artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="b"))
    mine, other, foreign = unique_name("mine"), unique_name("other"), unique_name("foreign")
    ours.ensure_model(mine)
    theirs.ensure_model(other)
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=foreign)
    assert mine in ours.list_models()
    assert other not in ours.list_models() and foreign not in ours.list_models()
    assert other in theirs.list_models()


def test_sagemaker_keeps_out_of_a_group_another_deployment_owns(moto_endpoint, s3_bucket):
    """Two deployments (or a team's own group) with one model name: registering under that name
    here once put this deployment's versions into the other's group, and its approved versions
    into this one's publishing (the card was missing; the run failed). Now every call refuses."""
    import boto3

    from resources import S3ArtifactStore, SageMakerModelRegistry
    from resources.errors import ForeignModelError

    ours = SageMakerModelRegistry(artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="ours"))
    theirs = SageMakerModelRegistry(artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="theirs"))
    shared, by_hand = unique_name("turbine"), unique_name("hand-made")
    theirs.ensure_model(shared)
    approved = theirs.register_version(shared, CARD).version
    theirs.approve(shared, approved, "theirs to ship", "qa")
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=by_hand)

    with pytest.raises(ForeignModelError, match=rf"{shared!r} belongs to .*{s3_bucket}/theirs"):
        ours.ensure_model(shared)
    with pytest.raises(ForeignModelError, match="belongs to no Edgeline deployment"):
        ours.ensure_model(by_hand)
    for call in (
        lambda: ours.register_version(shared, CARD),
        lambda: ours.list_versions(shared),
        lambda: ours.get_model_card(shared, approved),
        lambda: ours.set_status(shared, approved, REJECTED, "not ours", "qa"),
    ):
        with pytest.raises(
            ForeignModelError, match=f"tag the group edgeline:artifacts={s3_bucket}/ours"
        ):
            call()
    assert shared not in ours.list_models()
    versions = theirs.list_versions(shared)  # the owner's group as it was
    assert [(v.version, v.status) for v in versions] == [(approved, APPROVED)]
    assert theirs.get_model_card(shared, approved) == CARD


def test_sagemaker_group_prefixes_let_two_deployments_share_a_model_name(moto_endpoint, s3_bucket):
    from resources import S3ArtifactStore, SageMakerModelRegistry

    prefix = unique_name("p")[-8:]
    staging = SageMakerModelRegistry(
        artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="staging"),
        group_prefix=f"{prefix}-staging-",
    )
    production = SageMakerModelRegistry(
        artifacts=S3ArtifactStore(bucket=s3_bucket, prefix="production"),
        group_prefix=f"{prefix}-production-",
    )
    for registry in (staging, production):
        registry.ensure_model("image-classifier")
    staging.register_version("image-classifier", CARD)
    trial = staging.register_version("image-classifier", {**CARD, "description": "trial"})
    staging.approve("image-classifier", trial.version, "staging trial", "qa")
    shipped = production.register_version("image-classifier", CARD)
    assert (trial.version, shipped.version) == (2, 1)  # numbered per deployment
    assert [v.status for v in production.list_versions("image-classifier")] == [PENDING]
    assert "image-classifier" in staging.list_models()
    assert "image-classifier" in production.list_models()
    with pytest.raises(InvalidModelNameError, match="group prefix"):
        SageMakerModelRegistry(artifacts=staging.artifacts, group_prefix="x" * 60).ensure_model(
            "image-classifier"
        )

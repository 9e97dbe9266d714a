"""The boto3 clients Edgeline makes: each from a session of its own (credentials as the
environment says when it is made), all reading service models through one loader."""

import botocore.loaders

from resources.aws import AwsSettings


def test_clients_share_the_service_models_and_keep_their_own_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    reads = []
    read_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self, file_path):
        reads.append(file_path)
        return read_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    first = AwsSettings(region_name="eu-west-1").client("s3")
    paths = list(first._loader.search_paths)
    reads.clear()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second-key")
    later = [AwsSettings(region_name="eu-west-1").client("s3") for _ in range(5)]

    # the service model and endpoints were read from JSON for the first: the rest read no file
    assert reads == []
    assert later[-1]._loader is first._loader
    assert first._loader.search_paths == paths  # boto3 adds its folder once, not per session
    assert len(paths) == len(set(paths))
    assert first._request_signer._credentials.access_key == "first-key"
    assert later[-1]._request_signer._credentials.access_key == "second-key"
    assert hasattr(later[-1], "upload_file")  # boto3's S3 transfer methods are still there

"""Deploy-time settings: typed, and unknown keys are an error."""

import re

import pytest
from pydantic import ValidationError

from app.settings import Settings, unknown_environment


def test_unknown_kubeinit_variables_are_reported_with_a_suggestion():
    problems = unknown_environment({"KUBEINIT_PUBLIC_ULR": "x", "KUBEINIT_PUBLIC_URL": "http://a", "HOME": "/"})
    assert problems == ["KUBEINIT_PUBLIC_ULR: unknown setting (did you mean KUBEINIT_PUBLIC_URL?)"]


@pytest.mark.parametrize("url", ["ftp://x", "http://", "https://a.example/?q=1", "https://u:p@a.example",
                                 "https://a.example/x'$(id)", "https://a.example/\n# x"])
def test_public_url_must_be_a_plain_http_base(url):
    with pytest.raises(ValidationError):
        Settings(public_url=url)


def test_public_url_loses_its_trailing_slash():
    assert Settings(public_url="https://get.example.com/k8s/").public_url == "https://get.example.com/k8s"


def test_every_weave_version_needs_a_repository():
    with pytest.raises(ValidationError, match="2.9.0"):
        Settings(weave_repositories={"2.8.1": "docker.io/weaveworks"})


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KUBEINIT_RENDER_CACHE_SIZE", "7")
    assert Settings().render_cache_size == 7


def test_the_images_the_installer_runs_are_pinned_by_digest_where_a_digest_is_known() -> None:
    # issue #26: a tag can be moved; a digest cannot. The ones left by tag have no publicly recorded digest
    # (see the comment above Settings.kube_vip_image); each new image must be pinned or named here.
    settings = Settings()
    pinned = {"dns_test_image": settings.dns_test_image, "kube_vip_image": settings.kube_vip_image}
    for name, image in pinned.items():
        assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), (name, image)

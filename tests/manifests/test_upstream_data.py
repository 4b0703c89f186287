"""tests/manifests/upstream/ holds the upstream objects the manifest tests compare with, so that a
fresh clone passes its suite on its own. Where the upstream copies are at hand (../shared/reference
beside the repository, or UPSTREAM_REFERENCE naming them, as .ci/run does), each data file must
equal its upstream file object for object; UPSTREAM_REFERENCE naming a missing directory fails."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.support.network import REPO, UPSTREAM

# Our data file -> the upstream copy's name in ../shared/reference.
SOURCES = {
    "nodelocaldns.yaml": "nodelocaldns.yaml",
    "weave-2.8.1.template.yaml": "weave-daemonset-k8s-1.11.v2.8.1.template.yaml",
    "weave-2.8.1.release.yaml": "weave-daemonset-k8s.v2.8.1.release-derived.yaml",
    "weave-2.9.0.template.yaml": "weave-daemonset-k8s-1.11.rajch-v2.9.0.template.yaml",
}


def upstream_copies() -> Path | None:
    named = os.environ.get("UPSTREAM_REFERENCE")
    if named:
        assert Path(named).is_dir(), f"UPSTREAM_REFERENCE={named}: no such directory"
        return Path(named)
    beside = REPO.parent / "shared" / "reference"
    return beside if beside.is_dir() else None


def objects(path: Path) -> list[dict]:
    loaded = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return loaded[0]["items"] if len(loaded) == 1 and loaded[0]["kind"] == "List" else loaded


def test_every_data_file_cites_its_upstream_source_and_commit() -> None:
    assert sorted(p.name for p in UPSTREAM.glob("*.yaml")) == sorted(SOURCES)
    for name in SOURCES:
        head = (UPSTREAM / name).read_text().split("\n---", 1)[0]
        assert re.search(r"^# Source: \S+/\S+ ", head, re.M), f"{name}: no '# Source: owner/repo path'"
        assert re.search(r"\b[0-9a-f]{8,40}\b", head), f"{name}: no upstream commit"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_data_equals_the_upstream_copy_object_by_object(name: str) -> None:
    copies = upstream_copies()
    if copies is None:
        pytest.skip("no upstream copies beside the repository (../shared/reference): compared in CI")
    ours, theirs = objects(UPSTREAM / name), objects(copies / SOURCES[name])
    assert [(o["kind"], o["metadata"]["name"]) for o in ours] == [(o["kind"], o["metadata"]["name"]) for o in theirs]
    for mine, upstream in zip(ours, theirs, strict=True):
        assert mine == upstream, f"{name}: {mine['kind']}/{mine['metadata']['name']} differs from {SOURCES[name]}"

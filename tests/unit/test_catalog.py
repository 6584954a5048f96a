import pytest

from edgewise import catalog, resolver, store
from edgewise.errors import InputError, ModelLoadError, ModelNotFoundError

REQUIRED = {
    "llama3.2-1b",
    "llama3.2-3b",
    "phi3-mini",
    "gemma2-2b",
    "gemma3-270m",
    "gemma3-1b",
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-3b",
    "qwen2.5-coder-1.5b",
    "qwen2.5-coder-3b",
    "smollm2-135m",
    "smollm2-360m",
    "smollm2-1.7b",
}


def test_catalog_covers_the_families_with_facts():
    ids = {e.id for e in catalog.CATALOG}
    assert REQUIRED <= ids
    names = [n for e in catalog.CATALOG for n in (e.id, *e.aliases)]
    assert len(names) == len(set(names)), "ids and aliases must be unique"
    for e in catalog.CATALOG:
        assert e.params > 0 and e.context >= 2048 and e.languages and e.license and e.license_note
        assert e.card.startswith("https://huggingface.co/")
        q4km = [f for f in e.files if f.quant == "Q4_K_M"]
        assert q4km, f"{e.id} needs a Q4_K_M file"
        assert e.ram_estimate() > e.file().size
        assert e.kv_bytes_per_token() > 0


def test_licenses_that_forbid_commercial_use():
    noncommercial = {e.id for e in catalog.CATALOG if not e.commercial}
    assert noncommercial == {"qwen2.5-3b", "qwen2.5-coder-3b"}


def test_lookup_by_alias_and_quant():
    entry, quant = catalog.find("SmolLM2-135M-Instruct:q4_k_m")
    assert entry.id == "smollm2-135m" and quant == "Q4_K_M"
    assert entry.file(quant).filename.endswith("Q4_K_M.gguf")
    with pytest.raises(ModelNotFoundError, match="Q4_1"):
        entry.file("Q2_K")


def test_unknown_model_lists_known_names():
    with pytest.raises(ModelNotFoundError) as info:
        resolver.resolve("gpt-17")
    assert "smollm2-135m" in str(info.value) and "edgewise models add" in str(info.value)


def test_catalogued_but_not_downloaded_says_how_to_get_it():
    with pytest.raises(ModelNotFoundError, match="huggingface.co/.*Llama-3.2-1B"):
        resolver.resolve("llama3.2-1b")


def test_missing_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such file"):
        resolver.resolve(str(tmp_path / "nothing.gguf"))


def test_models_add_registers_and_resolves(tmp_path, gguf_writer):
    path = gguf_writer(tmp_path / "Tiny.gguf")
    record = store.add(path)
    assert record["name"] == "tiny" and len(record["sha256"]) == 64
    assert record["size"] == path.stat().st_size
    resolved = resolver.resolve("tiny")
    assert resolved.path == path.resolve() and resolved.source == "registered"
    assert "tiny" in resolver.known_names()


def test_models_add_refuses_bad_files_and_names(tmp_path, gguf_writer):
    bad = tmp_path / "bad.gguf"
    bad.write_text("hello")
    with pytest.raises(ModelLoadError):
        store.add(bad)
    with pytest.raises(InputError, match="invalid model name"):
        store.add(gguf_writer(tmp_path / "ok.gguf"), name="../../etc")
    assert store.registered_names() == []


def test_registered_file_that_disappeared(tmp_path, gguf_writer):
    path = gguf_writer(tmp_path / "gone.gguf")
    store.add(path)
    path.unlink()
    with pytest.raises(ModelNotFoundError, match="is gone"):
        resolver.resolve("gone")

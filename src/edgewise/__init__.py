"""edgewise: small language models as dependable on-device app features."""

from edgewise.catalog import CATALOG, DEFAULT_MODEL, ModelEntry, resolve
from edgewise.engines import Engine, FakeEngine, load
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    InputError,
    InvalidOptionsError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    SchemaValidationError,
    UnsupportedSchemaError,
)
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
    "CATALOG",
    "DEFAULT_MODEL",
    "CapabilityError",
    "Chunk",
    "Completion",
    "ContextLengthExceededError",
    "ContinuationScore",
    "EdgewiseError",
    "Engine",
    "FakeEngine",
    "GenerationOptions",
    "InputError",
    "InvalidOptionsError",
    "Message",
    "MissingExtraError",
    "ModelEntry",
    "ModelLoadError",
    "ModelNotFoundError",
    "SchemaValidationError",
    "Timings",
    "UnsupportedSchemaError",
    "Usage",
    "__version__",
    "load",
    "resolve",
]

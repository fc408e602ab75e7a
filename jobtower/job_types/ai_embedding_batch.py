"""``ai_embedding_batch``: turns a corpus of documents into vectors for semantic search.

Per document: ``chunk`` its text into pieces of about ``chunkTokens`` tokens
(a seeded share of documents has no extractable text and fails here),
``embed`` the pieces with the model, ``store`` the vectors. ``embed`` is a batch
step: it sends the pieces of up to 100 documents together, in calls of up to
256 texts, and a document the model refused (overloaded) is retried in the
next call without the others.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    with_defaults,
)

# Model name -> (vector dimensions, milliseconds per call).
MODELS = {"text-embedding-small": (512, 40), "text-embedding-large": (3072, 90)}
# Documents one embed step takes at once, and the texts (pieces) the model takes per call.
DOCUMENTS_PER_BATCH = 100
TEXTS_PER_CALL = 256
EMBED_RETRIES = 2

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "corpus": {"type": "string", "minLength": 1, "maxLength": 100, "default": "help-center"},
        "documents": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 200},
        "model": {"enum": sorted(MODELS), "default": "text-embedding-small"},
        "chunkTokens": {"type": "integer", "minimum": 128, "maximum": 8192, "default": 512},
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.01,
            "description": "Share of documents without extractable text.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


class NoExtractableText(Exception):
    """The document is e.g. a scanned PDF; there is nothing to embed."""


class ModelOverloaded(Exception):
    """The embedding API answered 429; a later call passes."""


def unreadable(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "unreadable")


def tokens_of(key: str) -> int:
    """The document's length: 200 to 20,000 tokens."""
    return 200 + int(fraction(key, "tokens") * 19_800)


async def documents(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for number in range(options["documents"]):
        yield f"{options['corpus']}/doc-{number:06d}"


async def chunk(context: RecordContext) -> None:
    await latency(context.params, context.key, 2, "chunk")
    if unreadable(context.key, context.params):
        raise NoExtractableText(f"{context.key} has no extractable text (a scanned PDF?)")
    tokens = tokens_of(context.key)
    pieces = math.ceil(tokens / with_defaults(context.params, PARAMS_SCHEMA)["chunkTokens"])
    context.state["pieces"] = pieces
    context.set_detail({"tokens": tokens, "pieces": pieces})


async def embed(contexts: Sequence[RecordContext]) -> None:
    params = contexts[0].params
    options = with_defaults(params, PARAMS_SCHEMA)
    dimensions, call_ms = MODELS[options["model"]]
    calls = math.ceil(sum(context.state["pieces"] for context in contexts) / TEXTS_PER_CALL)
    first = contexts[0]
    await latency(params, first.key, call_ms * calls, f"embed{first.state.get('attempt', 0) + 1}")
    for context in contexts:
        attempt = context.state["attempt"] = context.state.get("attempt", 0) + 1
        # One document in twenty hits the rate limit in its first call; the retry passes.
        if attempt == 1 and seeded(context.key, 0.05, "overloaded"):
            context.fail(ModelOverloaded("429 too many requests"))
            continue
        context.set_detail({"model": options["model"], "dimensions": dimensions, "batch": len(contexts)})


async def store(context: RecordContext) -> None:
    await latency(context.params, context.key, 5, "store")
    context.set_detail({"vectors": context.state["pieces"]})


AI_EMBEDDING_BATCH = registry.register(
    JobType(
        name="ai_embedding_batch",
        label="AI embedding batch",
        description="Embeds a corpus of documents into a vector store.",
        enumerate=documents,
        steps=(
            Step("chunk", chunk),
            Step("embed", run_batch=embed, batch_size=DOCUMENTS_PER_BATCH, retries=EMBED_RETRIES),
            Step("store", store),
        ),
        default_chunk_size=50,
        # The model API takes a few calls at once; more only hits its rate limit.
        record_concurrency=4,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["documents"],
        params_schema=PARAMS_SCHEMA,
    )
)

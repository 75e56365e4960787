"""The export pipeline: render → tokenize → split → pack → write → publish. No ORM here.

Import from the submodules (``sftpipeline.render`` …) or from here.
"""

from .card import CardConfig, render_dataset_card, size_category
from .hashing import sha256_file
from .packing import PackedSequence, Packer, pack_examples
from .publish import atomic_directory, code_version, describe_files, write_manifest
from .render import (
    CHATML,
    CHATML_SEP,
    DEFAULT_TEMPLATE,
    HF_CHAT_TEMPLATE,
    IGNORE_INDEX,
    TEMPLATE_NAMES,
    OverflowPolicy,
    OverflowStatus,
    TokenizedExample,
    TokenPiece,
    apply_max_tokens,
    count_conversation_tokens,
    preview_tokens,
    tokenize_conversation,
    tokenize_conversations,
)
from .split import TRAIN, VALIDATION, Deduplicator, assign_split, dedup_key
from .stats import Stats
from .tokenizers import (
    TOKENIZER_NAMES,
    ChatTokenizer,
    TokenizerError,
    count_tokens,
    get_tokenizer,
    tokenizer_fingerprint,
)
from .turns import export_message, openai_message, tools_block
from .writers import (
    JsonlWriter,
    OpenAIJsonlWriter,
    PackedParquetWriter,
    ParquetWriter,
    split_filename,
)

__all__ = [
    "CHATML",
    "CHATML_SEP",
    "DEFAULT_TEMPLATE",
    "HF_CHAT_TEMPLATE",
    "IGNORE_INDEX",
    "TEMPLATE_NAMES",
    "TOKENIZER_NAMES",
    "TRAIN",
    "VALIDATION",
    "CardConfig",
    "ChatTokenizer",
    "Deduplicator",
    "JsonlWriter",
    "OpenAIJsonlWriter",
    "OverflowPolicy",
    "OverflowStatus",
    "PackedParquetWriter",
    "PackedSequence",
    "Packer",
    "ParquetWriter",
    "Stats",
    "TokenPiece",
    "TokenizedExample",
    "TokenizerError",
    "apply_max_tokens",
    "assign_split",
    "atomic_directory",
    "code_version",
    "count_conversation_tokens",
    "count_tokens",
    "dedup_key",
    "describe_files",
    "export_message",
    "get_tokenizer",
    "openai_message",
    "pack_examples",
    "preview_tokens",
    "render_dataset_card",
    "sha256_file",
    "size_category",
    "split_filename",
    "tokenize_conversation",
    "tokenize_conversations",
    "tokenizer_fingerprint",
    "tools_block",
    "write_manifest",
]

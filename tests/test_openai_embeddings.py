"""openai and openai-compatible kinds through the real openai client against a local stand-in server."""

import numpy as np
import pytest
from embeddings_server import EmbeddingsServer, fake_vector

from embedlab.errors import EmbedlabError
from embedlab.models.embcache import EmbeddingCache, open_encoder
from embedlab.models.encoders import load_encoder
from embedlab.models.spec import ModelSpec


@pytest.fixture
def server():
    with EmbeddingsServer() as s:
        yield s


def test_openai_kind_batches_dimensions_key_and_429_retry(server, monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test-123")
    spec = ModelSpec(
        name="oai-large-256",
        kind="openai",
        source="text-embedding-3-large",
        dimensions=256,
        api_base=server.url,
        api_key_env="TEST_OPENAI_KEY",
        batch_size=3,
        query_prefix="q: ",
    )
    enc = load_encoder(spec)
    server.inject("429", "429")
    texts = [f"text {i}" for i in range(7)]
    v = enc.encode_corpus(texts)
    assert v.shape == (7, 256)
    assert np.allclose(v[4], fake_vector("text 4", 256), atol=1e-6)  # order restored from the index field
    assert len(server.requests) == 3 + 2  # three batches (3+3+1), two of the attempts answered 429
    assert {r["dimensions"] for r in server.requests} == {256}
    assert {r["model"] for r in server.requests} == {"text-embedding-3-large"}
    assert {r["encoding_format"] for r in server.requests} == {"float"}
    assert set(server.auth) == {"Bearer sk-test-123"}
    q = enc.encode_queries(["hello"])
    assert server.requests[-1]["input"] == ["q: hello"] and np.allclose(
        q[0], fake_vector("q: hello", 256), atol=1e-6
    )


def test_openai_kind_needs_its_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EmbedlabError, match="OPENAI_API_KEY"):
        load_encoder(ModelSpec(name="ada", kind="openai", source="text-embedding-ada-002"))


def test_openai_compatible_without_key_and_ada_without_dimensions(server):
    enc = load_encoder(
        ModelSpec(name="local", kind="openai-compatible", source="my-embedder", api_base=server.url)
    )
    v = enc.encode_corpus(["a", ""])
    assert v.shape == (2, 16) and "dimensions" not in server.requests[0]
    assert server.requests[0]["input"] == ["a", " "]  # empty strings are rejected by the API
    with pytest.raises(EmbedlabError, match="api_base"):
        load_encoder(ModelSpec(name="x", kind="openai-compatible", source="m"))


def test_api_error_mid_run_keeps_what_was_paid_for(server, tmp_path):
    spec = ModelSpec(
        name="local",
        kind="openai-compatible",
        source="m",
        api_base=server.url,
        batch_size=2,
        init_kwargs={"max_retries": 1},
    )
    texts = [f"chunk {i}" for i in range(10)]
    server.fail_after(2)  # two batches succeed, then the server breaks
    enc = open_encoder(spec, "cpu", tmp_path)
    with pytest.raises(EmbedlabError, match="rerun to continue"):
        enc.encode_corpus(texts)
    enc.close()
    fp = load_encoder(spec).fingerprint()
    assert len(EmbeddingCache(tmp_path, "local", fp)) == 4
    server.fail_after(None)
    before = server.texts_received
    enc = open_encoder(spec, "cpu", tmp_path)
    v = enc.encode_corpus(texts)
    assert server.texts_received - before == 6 and enc.stats == {
        "encoded": 6,
        "cached": 4,
        "encode_seconds": pytest.approx(enc.stats["encode_seconds"]),
    }
    assert np.allclose(v[0], fake_vector("chunk 0", 16), atol=1e-6)

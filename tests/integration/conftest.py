import pytest

from tunewright.config import ModelSection
from tunewright.models import load_tokenizer, resolve_model


@pytest.fixture(scope="session")
def smol_ref():
    return resolve_model(ModelSection())


@pytest.fixture(scope="session")
def smol_tokenizer(smol_ref):
    return load_tokenizer(smol_ref, ModelSection())

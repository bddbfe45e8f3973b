import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(params=[True, False], ids=["threads", "sequential"])
def threads(request: pytest.FixtureRequest) -> bool:
    """Run a test against both concurrency modes (threads=True and threads=False)."""
    return bool(request.param)

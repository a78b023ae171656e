"""Where downloaded and derived inputs are kept between builds: ~/.cache/pycontainers, or
$PYCONTAINERS_CACHE (Debian packages and their unpacked trees, registry images, U-Boot flash
images). Nothing in it is ever the only copy of anything."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache() -> Path:
    return Path(os.environ.get("PYCONTAINERS_CACHE", Path.home() / ".cache" / "pycontainers"))

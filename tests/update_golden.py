"""Regenerate the golden trees: python tests/update_golden.py  (then review `git diff tests/golden`)."""

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import DEVICES, ROOT, checkout_head, golden_bytes, with_test_keys  # noqa: E402

from pycontainers import cli  # noqa: E402
from pycontainers.yocto import STATIC_LAYER, static_layer_files  # noqa: E402

# meta-pycontainers' files rendered from the requirements table (kernel and busybox fragments)
for rel, text in static_layer_files().items():
    (STATIC_LAYER / rel).parent.mkdir(parents=True, exist_ok=True)
    (STATIC_LAYER / rel).write_text(text)
    print(f"updated meta-pycontainers/{rel}")

for device in DEVICES:
    with tempfile.TemporaryDirectory() as tmp:
        out = with_test_keys(Path(tmp) / device.stem)
        if cli.main(["generate", str(device.relative_to(ROOT)), "-o", str(out), "--layer-source", "git"]) != 0:
            sys.exit(f"generate failed for {device}")
        golden = ROOT / "tests" / "golden" / device.stem
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out / "generated", golden)
        # the Buildroot tree's copy of runtime/ is compared with runtime/ itself (test_generate.py)
        shutil.rmtree(golden / "buildroot" / "src")
        for f in golden.rglob("*"):
            if f.is_file() and not f.is_symlink():
                f.write_bytes(golden_bytes(f.read_bytes(), checkout_head()))
        print(f"updated {golden.relative_to(ROOT)}")

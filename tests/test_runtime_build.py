"""runtime/Makefile in a distro build (Yocto, Buildroot): their compiler flags are theirs. A
product build's own _FORTIFY_SOURCE level (Yocto's security flags, Buildroot's BR2_FORTIFY_SOURCE_N)
and a newer compiler's new warning must not break it; this project's own builds keep -Werror."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import ROOT

RUNTIME = ROOT / "runtime"


@pytest.mark.parametrize("cflags", ["-O2 -D_FORTIFY_SOURCE=1", "-O2 -D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS",
                                    "-O0 -g"])
def test_pycm_builds_with_a_distros_flags(cflags, tmp_path):
    """As bitbake and Buildroot call it: CC and CFLAGS from the environment (glibc, the host cc)."""
    if not shutil.which("cc"):
        pytest.skip("no host C compiler")
    r = subprocess.run(["make", "-s", "-C", str(RUNTIME), f"O={tmp_path}", "pycm", "pycmctl"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CC": "cc", "CFLAGS": cflags})
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "pycm").exists() and (tmp_path / "pycmctl").exists()


def _flags(*args: str, cflags: str = "-Os") -> str:
    r = subprocess.run(["make", "-n", "-C", str(RUNTIME), "O=/nonexistent", "/nonexistent/main.o", *args],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CFLAGS": cflags})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_werror_and_fortify_only_where_this_project_builds():
    assert "-Werror" not in _flags()
    assert "-Werror" in _flags("WERROR=-Werror")
    assert _flags().count("_FORTIFY_SOURCE") == 1
    assert _flags(cflags="-O2 -D_FORTIFY_SOURCE=3").count("_FORTIFY_SOURCE") == 1

"""`pycontainers init DIR --board BOARD` (issue 22, 2 and 6): every file of the scaffolded product
repository is checked by its own tool: the device file by our validate, the kas files (with the
generated one they include, and the site file) by kas's own include handler, the CI files by
check-jsonschema's built-in GitHub-workflow and GitLab-CI schemas (vendored in the package: no
network), site.conf by bitbake's parser, the example test by pytest collecting it with the plugin.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_yocto import parser

ROOT = Path(__file__).resolve().parents[1]
FARM = ["--downloads-mirror", "https://downloads.example.com/yocto", "--sstate-mirror", "file:///srv/sstate/",
        "--hashserve", "hashserv.example.com:8686"]


@pytest.fixture
def product(run_cli, tmp_path):
    code, out, err = run_cli("init", "product", "--board", "qemuarm64", *FARM)
    assert code == 0, err
    return tmp_path / "product"


def test_init_writes_the_repository(product):
    files = sorted(str(p.relative_to(product)) for p in product.rglob("*") if p.is_file())
    assert files == [".github/workflows/boot-tests.yml", ".gitignore", ".gitlab-ci.yml", "device.yml", "kas.yml",
                     "pytest.ini", "site.conf", "site.yml", "tests/test_device.py"]
    ignored = (product / ".gitignore").read_text().split()
    assert {"/out/", "/build/", "/bitbake-builds/", "/meta-pycontainers/", "/openembedded-core/"} <= set(ignored)


def test_the_device_file_validates_and_generates(product, run_cli):
    code, out, err = run_cli("validate", product / "device.yml")
    assert code == 0 and "product on qemuarm64, 2 containers" in out, err
    assert (product / "device.yml").read_text().count("\n#") >= 3  # commented


def _kas_config(*files: Path) -> dict:
    """The merged configuration kas builds from these files (its include handler)."""
    import kas.context
    from kas.includehandler import IncludeHandler

    class Args(argparse.Namespace):
        def __getattr__(self, name):
            return None
    kas.context.create_global_context(Args(update=False, force_checkout=False))
    config, missing = IncludeHandler([str(f) for f in files], use_lock=False).get_config()
    assert missing == []
    return config


def test_kas_files_include_the_generated_one_and_pin_meta_pycontainers(product, run_cli, monkeypatch):
    from kas.includehandler import ConfigFile

    from pycontainers import __version__

    code, _, err = run_cli("generate", product / "device.yml", "-o", product / "out", "--backend", "yocto")
    assert code == 0, err
    for f in ("kas.yml", "site.yml"):
        ConfigFile.load(str(product / f))  # kas's schema and header.version checks
    monkeypatch.chdir(product)
    config = _kas_config(product / "kas.yml", product / "site.yml")
    assert config["machine"] == "product-qemuarm64" and config["target"] == "product-image"
    assert config["repos"]["device"] == {"path": "out/generated/yocto", "layers": {"meta-product": None}}
    assert config["repos"]["meta-pycontainers"]["tag"] == f"v{__version__}"
    site = config["local_conf_header"]["site"]
    assert site == (product / "site.conf").read_text()  # one text, two wrappers
    for line in ('SOURCE_MIRROR_URL = "https://downloads.example.com/yocto"',
                 'SSTATE_MIRRORS = "file://.* file:///srv/sstate/PATH;downloadfilename=PATH"',
                 'BB_HASHSERVE = "hashserv.example.com:8686"', 'BB_SIGNATURE_HANDLER = "OEEquivHash"'):
        assert f"\n{line}\n" in site


def test_bitbake_parses_the_site_conf(product, tmp_path):
    """bitbake's parser (the `bb` module of the bitbake-setup package) reads site.conf, as it reads
    build/conf/site.conf, and gets the values the options gave."""
    pytest.importorskip("bb", reason="bitbake-setup (PyPI) is a test dependency: it ships bitbake's bb module")
    parse = parser(tmp_path, "wrynose", [])
    d = parse(product / "site.conf")
    assert d.getVar("SSTATE_MIRRORS") == "file://.* file:///srv/sstate/PATH;downloadfilename=PATH"
    assert d.getVar("BB_HASHSERVE") == "hashserv.example.com:8686"
    assert "own-mirrors" in d.getVar("INHERIT")


def test_without_farm_options_the_site_file_sets_nothing(run_cli, tmp_path):
    code, _, err = run_cli("init", "solo", "--board", "qemux86-64")
    assert code == 0, err
    parse = parser(tmp_path, "wrynose", [])
    d = parse(tmp_path / "solo" / "site.conf")
    assert d.getVar("SSTATE_MIRRORS") is None and d.getVar("BB_HASHSERVE") is None


@pytest.mark.parametrize("schema, path", [("vendor.github-workflows", ".github/workflows/boot-tests.yml"),
                                          ("vendor.gitlab-ci", ".gitlab-ci.yml")])
def test_ci_files_pass_check_jsonschema(schema, path, product):
    tool = shutil.which("check-jsonschema", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                                 os.environ.get("PATH", "")]))
    if not tool:
        pytest.skip("check-jsonschema is a test dependency (pip install -e .[test])")
    r = subprocess.run([tool, "--builtin-schema", schema, str(product / path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    ci = yaml.safe_load((product / path).read_text())
    text = str(ci)
    assert "pycontainers build device.yml -o out" in text and "pytest -v --image out/image/disk.img" in text
    assert "gcc-aarch64-linux-gnu" in text and "qemu-system-arm" in text  # the board's tools


def test_check_jsonschema_refuses_a_broken_workflow(product):
    """The schema check above can fail (a step without `run` or `uses`)."""
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if not tool:
        pytest.skip("check-jsonschema is a test dependency (pip install -e .[test])")
    wf = product / ".github" / "workflows" / "boot-tests.yml"
    wf.write_text(wf.read_text().replace("runs-on: ubuntu-latest", "runs-on: [[]]"))
    r = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(wf)], capture_output=True, text=True)
    assert r.returncode == 1 and "runs-on" in r.stdout, r.stdout


def test_the_example_test_is_collected_by_the_plugin(product):
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "pycontainers.pytest_plugin",
                        "-p", "no:cacheprovider"], cwd=product, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "generator")})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tests/test_device.py::test_every_container_is_healthy_and_the_boot_committed" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--board", "nosuch"], "--board nosuch: no such board; known: "),
    (["--board", "qemuarm64", "--hashserve", 'x:1"\nBB_X = "1'], "--hashserve "),
    (["--board", "qemuarm64", "--sstate-mirror", "http://a b"], "--sstate-mirror "),
    (["--board", "qemuarm64", "--name", "Bad_Name"], "device name 'Bad_Name'"),
])
def test_bad_options_are_refused_in_one_line(args, message, run_cli, tmp_path):
    code, out, err = run_cli("init", "p", *args)
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "p").exists()


def test_init_never_writes_into_a_repository_with_files(run_cli, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "device.yml").write_text("mine\n")
    code, _, err = run_cli("init", "p", "--board", "qemuarm64")
    assert code == 2 and "exists and is not an empty directory" in err
    assert (tmp_path / "p" / "device.yml").read_text() == "mine\n"

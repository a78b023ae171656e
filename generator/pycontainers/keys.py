"""Signing keys for RAUC bundles: the device's own, or a generated development pair."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .model import Device

DEV_KEY = "development.key.pem"
DEV_CERT = "development.cert.pem"


@dataclass(frozen=True)
class KeyPair:
    key: Path
    cert: Path
    development: bool


def signing_keys(device: Device, output: Path, release: bool = False) -> KeyPair:
    """The device's key pair, or the development pair in OUTPUT/keys (made once, then reused so
    that reruns are byte-identical). release: a development pair is refused (--release)."""
    if device.signing:
        return KeyPair(device.signing.key, device.signing.cert, development=False)
    if release:
        raise UserError(f"{device.display}: update.signing: not set, and --release refuses the development key "
                        f"(devices would trust a key anyone with this build directory has); give update.signing "
                        f"(key, cert) in the device file")
    keys = output / "keys"
    key, cert = keys / DEV_KEY, keys / DEV_CERT
    if not (key.is_file() and cert.is_file()):
        if not shutil.which("openssl"):
            raise UserError("openssl is needed to make a development signing key (apt-get install openssl), "
                            "or set update.signing in the device file")
        keys.mkdir(parents=True, exist_ok=True)
        tmp_key, tmp_cert = key.with_suffix(".tmp"), cert.with_suffix(".tmp")
        cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
               "-keyout", str(tmp_key), "-out", str(tmp_cert),
               "-subj", f"/O=pycontainers development/CN={device.name} development key"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise UserError(f"openssl could not make a development key: {r.stderr.strip().splitlines()[-1]}")
        tmp_key.chmod(0o600)
        tmp_key.rename(key)
        tmp_cert.rename(cert)
    print(f"WARNING: {device.display}: no update.signing in the device file; bundles are signed with "
          f"the DEVELOPMENT key {key}. Do not ship devices that trust it.", file=sys.stderr)
    return KeyPair(key, cert, development=True)

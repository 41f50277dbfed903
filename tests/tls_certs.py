"""Test certificates made at test time with ``cryptography``: a CA, server and client certificates it signs."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the DER certificate, lowercase hex

    @property
    def pair(self) -> tuple[str, str]:
        return str(self.cert_file), str(self.key_file)


class TestCa:
    """A CA that writes what it issues as PEM files under ``directory``."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "Tollhouse Test CA"):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (_builder(subject, subject, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_file = directory / f"{name.replace(' ', '-').lower()}.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, dns: list[str] = (), ips: list[str] = (), client: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(host) for host in dns] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), self.cert.subject,
                           key.public_key())
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(self.key, hashes.SHA256())
        return _write(self.directory, name, cert, key)


def self_signed(directory: Path, name: str) -> Issued:
    ca = TestCa(directory, f"{name} self")
    return _write(directory, name, ca.cert, ca.key)


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))


def _write(directory: Path, name: str, cert: x509.Certificate, key) -> Issued:
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return Issued(cert_file, key_file, fingerprint)

"""Kafka client security settings (``STREAMPROC_KAFKA_SECURITY__…``): ``security.protocol``, SASL
(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and TLS (CA, client certificate and key). Part of
:class:`streamproc.config.settings.Settings` as ``kafka_security``; turned into the configuration
of each Kafka client by :mod:`streamproc.runtime.kafka_config` and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

__all__ = ["KafkaSecuritySettings", "PREFIX"]

#: the environment prefix of these settings, for messages
PREFIX = "STREAMPROC_KAFKA_SECURITY__"


class KafkaSecuritySettings(BaseModel):
    """How every Kafka client connects: Faust's consumer and producer, the confluent-kafka
    producer and the admin client, all configured from this by :mod:`streamproc.runtime.kafka_config`.
    Contradictions (SASL secrets without a SASL protocol, TLS files without TLS, a key without its
    certificate) and missing files are configuration errors naming the variable, never its value."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="Kafka `security.protocol` of every client (Faust's, the producer's, the admin client's).",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism (SASL_* protocols only)."
    )
    sasl_username: SecretStr | None = Field(default=None, description="SASL user name (SASL_* protocols).")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (SASL_* protocols).")
    ssl_ca_file: Path | None = Field(
        default=None, description="PEM file of the CAs that sign the brokers' certificates; unset: the system's."
    )
    ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate, for mutual TLS.")
    ssl_key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate (unset: it is in the certificate file)."
    )
    ssl_key_password: SecretStr | None = Field(default=None, description="Password of an encrypted client key.")

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_spelling(cls, value: Any) -> Any:
        return value.strip().upper().replace("-", "_") if isinstance(value, str) else value

    @field_validator("sasl_mechanism", mode="before")
    @classmethod
    def _mechanism_spelling(cls, value: Any) -> Any:
        return value.strip().upper().replace("_", "-") if isinstance(value, str) else value

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecuritySettings:
        secrets = [n for n in ("sasl_username", "sasl_password") if getattr(self, n) is not None]
        if self.sasl:
            missing = [n for n in ("sasl_username", "sasl_password") if not _secret(getattr(self, n))]
            if missing:
                names = " and ".join(PREFIX + n.upper() for n in missing)
                raise ValueError(f"{self.protocol} needs {names}")
        elif secrets or "sasl_mechanism" in self.model_fields_set:
            names = ", ".join(PREFIX + n.upper() for n in secrets) or PREFIX + "SASL_MECHANISM"
            raise ValueError(f"{names} set, but {PREFIX}PROTOCOL {self.protocol} does not use SASL")
        files = ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password")
        given = [n for n in files if getattr(self, n) is not None]
        if given and not self.tls:
            names = ", ".join(PREFIX + n.upper() for n in given)
            raise ValueError(f"{names} set, but {PREFIX}PROTOCOL {self.protocol} does not use TLS")
        if self.ssl_cert_file is None and (self.ssl_key_file is not None or self.ssl_key_password is not None):
            raise ValueError(f"a client key needs its certificate: {PREFIX}SSL_CERT_FILE is not set")
        for name in files[:3]:
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{PREFIX}{name.upper()}: no such file (or not a file)")
        return self


def _secret(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value())

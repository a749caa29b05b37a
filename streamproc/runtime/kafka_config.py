"""Kafka client security, in one place: :class:`~streamproc.config.kafka_security.KafkaSecuritySettings`
(``STREAMPROC_KAFKA_SECURITY__…``) turned into the configuration of every Kafka client streamproc
opens, so they all connect alike:

* :func:`confluent_config` — librdkafka properties for the confluent-kafka producer and watermark
  reader (:mod:`.producer`) and the admin client (:mod:`.admin`);
* :func:`faust_broker_options` — the ``broker_credentials`` option of a Faust app
  (:func:`.apps.faust_app`), which Faust hands to aiokafka for its consumer, its producer and its
  topic-creating client alike;
* :func:`ssl_context` — the TLS context of the Faust side, built from the same files.

Both sides verify the broker's certificate and host name (aiokafka always does; librdkafka with
``ssl.endpoint.identification.algorithm=https``) against the configured CA file, or the system's
trust store when none is set. Secrets never reach a printable text: :class:`ClientConfig` masks
them in its repr, the Faust credentials' repr shows neither user nor password, and a TLS file that
cannot be loaded is a :class:`~streamproc.errors.ConfigError` naming the variables, not the files'
contents or the key password.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from faust.auth import SASLCredentials, SSLCredentials

from streamproc.config.kafka_security import PREFIX
from streamproc.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from streamproc.config.kafka_security import KafkaSecuritySettings
    from streamproc.config.settings import Settings

__all__ = [
    "ClientConfig",
    "MaskedSASLCredentials",
    "SECRET_PROPERTIES",
    "confluent_config",
    "faust_broker_options",
    "ssl_context",
]

#: librdkafka properties that hold a secret (masked by :class:`ClientConfig`'s repr)
SECRET_PROPERTIES = frozenset({"sasl.username", "sasl.password", "ssl.key.password"})
_MASK = "**********"


class ClientConfig(dict[str, str]):
    """librdkafka properties; ``repr``/``str`` show :data:`SECRET_PROPERTIES` masked."""

    def __repr__(self) -> str:
        return repr({k: _MASK if k in SECRET_PROPERTIES else v for k, v in self.items()})

    __str__ = __repr__


class MaskedSASLCredentials(SASLCredentials):
    """Faust's SASL credentials, whose repr names the mechanism and protocol but not the user."""

    def __repr__(self) -> str:
        return f"<SASLCredentials: {self.mechanism.value} over {self.protocol.value}>"


def confluent_config(settings: Settings) -> ClientConfig:
    """The security properties of a confluent-kafka client (``bootstrap.servers`` not included).
    With a client certificate, the certificate and key are loaded once here, so that a wrong
    file or password is the same ConfigError as on the Faust side."""
    sec = settings.kafka_security
    conf = ClientConfig({"security.protocol": sec.protocol})
    if sec.sasl:
        conf["sasl.mechanism"] = sec.sasl_mechanism
        conf["sasl.username"] = _value(sec.sasl_username)
        conf["sasl.password"] = _value(sec.sasl_password)
    if sec.tls:
        conf["ssl.ca.location"] = str(sec.ssl_ca_file) if sec.ssl_ca_file is not None else "probe"
        conf["ssl.endpoint.identification.algorithm"] = "https"
        if sec.ssl_cert_file is not None:
            ssl_context(sec)  # fails here, value-free, rather than inside librdkafka
            conf["ssl.certificate.location"] = str(sec.ssl_cert_file)
            if sec.ssl_key_file is not None:
                conf["ssl.key.location"] = str(sec.ssl_key_file)
            if sec.ssl_key_password is not None:
                conf["ssl.key.password"] = _value(sec.ssl_key_password)
    return conf


def faust_broker_options(settings: Settings) -> dict[str, Any]:
    """Options of a Faust app: ``broker_credentials`` for SSL and SASL (nothing for PLAINTEXT)."""
    sec = settings.kafka_security
    if not sec.sasl and not sec.tls:
        return {}
    context = ssl_context(sec) if sec.tls else None
    if not sec.sasl:
        return {"broker_credentials": SSLCredentials(context)}
    credentials = MaskedSASLCredentials(
        username=_value(sec.sasl_username),
        password=_value(sec.sasl_password),
        ssl_context=context,
        mechanism=sec.sasl_mechanism,
    )
    return {"broker_credentials": credentials}


def ssl_context(sec: KafkaSecuritySettings) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's trust store), host-name checking, and
    the client certificate and key when set. A file that cannot be loaded, or a wrong key
    password, is a ConfigError naming the variables and the TLS library's reason code only."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(sec.ssl_ca_file) if sec.ssl_ca_file is not None else None
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{PREFIX}SSL_CA_FILE: cannot load the CA certificates ({_why(exc)})") from None
    if sec.ssl_cert_file is not None:
        password = _value(sec.ssl_key_password) if sec.ssl_key_password is not None else None
        try:
            context.load_cert_chain(
                str(sec.ssl_cert_file),
                str(sec.ssl_key_file) if sec.ssl_key_file is not None else None,
                password,
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{PREFIX}SSL_CERT_FILE / {PREFIX}SSL_KEY_FILE / {PREFIX}SSL_KEY_PASSWORD: cannot load the "
                f"client certificate and key ({_why(exc)})"
            ) from None
    return context


def _value(secret: SecretStr | None) -> str:
    return "" if secret is None else secret.get_secret_value()


def _why(exc: BaseException) -> str:
    """A value-free reason: the OpenSSL reason code or errno text, else the exception type."""
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return str(reason) if reason else type(exc).__name__

from __future__ import annotations

import logging

from server.logging import RedactSensitiveFilter, redact


def test_redact_hides_sensitive_values_in_common_shapes():
    text = (
        "{'national_id': 'FR123456789', 'name': 'Acme'} "
        '{"bank_account": "FR7612345"} password=hunter2 token: abc.def'
    )
    cleaned = redact(text)
    for secret in ("FR123456789", "FR7612345", "hunter2", "abc.def"):
        assert secret not in cleaned
    assert "Acme" in cleaned


def test_filter_rewrites_the_record(caplog):
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactSensitiveFilter())
    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        logger.info("saving %s", {"bank_account": "FR76000111222333"})
    assert "FR76000111222333" not in caplog.text
    assert "[redacted]" in caplog.text

"""How a dotted key of a partial update relates to a rule path."""

from __future__ import annotations

import pytest

from streamproc.pipeline.path_syntax import parse_path
from streamproc.pipeline.update_keys import DEEPER, EXACT, PREFIX, match_update_key


@pytest.mark.parametrize(
    ("rule", "key", "kind"),
    [
        ("contact.email", "contact.email", EXACT),
        ("contact.email", "contact", PREFIX),
        ("contact.email", "contact.email.x", DEEPER),
        ("phones.number", "phones.0.number", EXACT),
        ("phones.number", "phones.0", PREFIX),
        ("phones.number", "phones", PREFIX),
        ("tags", "tags.3", DEEPER),
        ("*.email", "work.email", EXACT),
        ("contact.email", "contacts.email", None),
        ("contact.email", "contact.phone", None),
        ("email", "0.email", None),
    ],
)
def test_match_update_key(rule, key, kind):
    m = match_update_key(parse_path(rule).segments, key.split("."))
    assert (m.kind if m else None) == kind

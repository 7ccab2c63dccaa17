"""The input guards one by one, without a broker: redaction, ASCII-only BSNs, duplicate keys, hub headers,
metric labels and the ZIP limits' settings."""

from __future__ import annotations

import timeit

import orjson
import pytest

from hub.errors import ConfigError, Unparseable
from hub.formats.bsn import find, is_valid, redact
from hub.formats.document import parse_json
from hub.ops.metrics import kind_label
from hub.pipeline.headers import strip_hub_headers
from hub.settings import Settings

FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "999990019")
ARABIC_INDIC = "".join(chr(ord(c) - ord("0") + 0x0660) for c in "999990019")


@pytest.mark.parametrize("text", ["bsn 999990019", "bsn 999.990.019.", "9999 90019", "999-99-0019",
                                  "999 990 019", "line 4 999 990 019", "x 999\u00a0990\u00a0019", FULL_WIDTH,
                                  "'999.990.019' does not match '^[0-9]{9}$'"])
def test_redaction_hides_bsns_however_written(text: str) -> None:
    out = redact(text)
    assert "*********" in out
    digits = "".join(c for c in out if c.isdigit())
    assert "99999" not in digits and "999990019" not in digits.translate({0xFF10 + i: str(i) for i in range(10)})


@pytest.mark.parametrize("text", ["2026-03-10 3 rows", "period 2026-03, 12 rows", "AGB 06220011 1 file",
                                  "12 2026-03-10", "999.990.018", "10:30 2026-03-10T09:00:00Z",
                                  "phone 030 123 4567", "1.2.3.4.5.6.7.8.9"])
def test_redaction_leaves_dates_agb_codes_and_counts(text: str) -> None:
    """Grouped digits are masked only when the nine pass the elfproef, as every real BSN does."""
    assert redact(text) == text


def test_a_message_id_keeps_its_digits_unless_they_could_be_a_bsn() -> None:
    """Nine digits inside a UUID are masked only when they pass the elfproef, as every issued BSN does."""
    readable = "534a4369-7b8b-5af0-9d34-665381309ceb"  # a hub message id: 665381309 fails the elfproef
    assert not is_valid("665381309")
    assert redact(f"zk rejected IO31 {readable} (x)") == f"zk rejected IO31 {readable} (x)"
    assert find(readable) == []
    hidden = "534a4369-7b8b-5af0-9d34-999990019abc"  # a BSN written into one
    assert redact(hidden) == "534a4369-7b8b-5af0-9d34-*********abc" and find(hidden) == ["999990019"]
    # outside a UUID every nine-digit run is masked, elfproef or not
    assert redact("665381309") == "*********"
    assert redact("534a4369-7b8b-5af0-9d34-665381309cebf") == \
        "534a4369-7b8b-5af0-9d34-*********cebf"  # a last group of thirteen: not a UUID
    assert redact(f"{readable} 665381309") == f"{readable} *********"
    # digits before a UUID never join its first group: ``31 7457007`` passes the elfproef, the id does not hide
    starts = "7457007a-39cb-5b8d-bf03-1dd5c43be3c3"
    assert is_valid("317457007")
    assert redact(f"zk rejected IO31 {starts} (x)") == f"zk rejected IO31 {starts} (x)" and find(f"IO31 {starts}") == []
    assert redact(f"{starts} 999 990 019") == f"{starts} *********"  # grouped ones beside it still go


def test_bsn_checks_take_ascii_digits_only() -> None:
    assert is_valid("999990019")
    assert int(FULL_WIDTH) == 999990019  # what made the elfproef pass before
    for fake in (FULL_WIDTH, ARABIC_INDIC, "99999001９", " 99999001", "999990019\n"):
        assert not is_valid(fake)


def test_duplicate_keys_are_named_by_path() -> None:
    cases = {b'{"client": {"bsn": "1", "bsn": "2"}}': "$.client.bsn",
             b'{"a": [1, {"b": {"c": 1, "c": 2}}]}': "$.a[1].b.c",
             b'{"we ird": 1, "we ird": 2}': '$["we ird"]',
             b'{"b": "\\u003a", "b": 1}': "$.b",
             b'{"\\u0062": 1, "b": 2}': "$.b"}
    for payload, path in cases.items():
        with pytest.raises(Unparseable) as caught:
            parse_json(payload)
        assert caught.value.rule == "JSON_DUPLICATE_KEY" and path in caught.value.reason
    for fine in (b'{"a": "x:y", "b": {"a": 1}}', b'[{"a": 1}, {"a": 2}]', b'{"t": "12:00:00"}', b'"s"'):
        assert parse_json(fine) == orjson.loads(fine)


def test_the_duplicate_check_keeps_the_hot_path_fast() -> None:
    doc = orjson.dumps({"besluitnummer": "IB-1", "ingangsdatum": "2026-11-01", "zzp": "5VV",
                        "client": {"bsn": "999990019", "gemeentecode": "0344", "postcode": "3511AB"},
                        "regels": [{"code": f"c:{i}", "n": i} for i in range(20)]})
    n = 2000
    plain = min(timeit.repeat(lambda: orjson.loads(doc), number=n, repeat=5))
    checked = min(timeit.repeat(lambda: parse_json(doc), number=n, repeat=5))
    assert checked < plain * 4 + 0.01, f"orjson {plain / n * 1e6:.1f} us, checked {checked / n * 1e6:.1f} us"


def test_only_the_hub_keeps_hub_headers() -> None:
    headers = {"x-network-sequence": 3, "X-Sender": "cak", "x-sender-id": "1", "x-original-sender": "zk",
               "x-mapping-version": "9", "x-retries": 9, "x-retry-reason": "r", "x-delay-ms": 1, "x-reason": "r",
               "x-rule": "r", "x-status": "s", "x-error-class": "E", "x-death": [], "x-requeued": True,
               "x-filename": "ohw.zip", "traceparent": "00-a-b-01", "x-custom": "kept"}
    from_sender = strip_hub_headers(headers, from_hub=False)
    assert from_sender == {"x-filename": "ohw.zip", "traceparent": "00-a-b-01", "x-custom": "kept"}
    assert strip_hub_headers(headers, from_hub=True) == headers  # the hub's own retry and requeue


def test_metric_kind_labels() -> None:
    known = {"indicatiebesluit", "nza.ohw"}
    assert kind_label("nza.ohw", known) == "nza.ohw"
    assert kind_label("999990019", known) == "unknown"
    assert kind_label("nza.ohw.ontvangstbevestiging", known) == "unknown"
    assert kind_label("", known) == "unknown"


def test_zip_limits_are_settings_validated_at_start(tmp_path: object) -> None:
    base = {"ZORGHUB_HOME": str(tmp_path)}
    loaded = Settings.load(environ=base)
    assert (loaded.zip_max_unpacked_bytes, loaded.zip_max_ratio) == (200_000_000, 200)
    assert Settings.load(environ={**base, "ZORGHUB_ZIP_MAX_RATIO": "50"}).zip_max_ratio == 50
    for name, bad in (("ZIP_MAX_RATIO", "1"), ("ZIP_MAX_UNPACKED_BYTES", "1000"), ("ZIP_MAX_RATIO", "lots")):
        with pytest.raises(ConfigError, match="zip_max_"):
            Settings.load(environ={**base, f"ZORGHUB_{name}": bad})


def test_metric_kinds_come_from_the_catalogue_and_the_flows(tmp_path: object) -> None:
    from hub.ops.metrics import catalogue_kinds

    kinds = catalogue_kinds(Settings.load(environ={"ZORGHUB_HOME": str(tmp_path)}))
    assert {"indicatiebesluit", "network.melden", "nza.ohw", "zorghub.receipt"} <= kinds
    assert "nza.ohw.ontvangstbevestiging" in kinds  # the NZa flow declares it as its receipt
    assert not any(k.isdigit() for k in kinds)

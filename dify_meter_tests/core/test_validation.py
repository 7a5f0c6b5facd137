import pytest

from dify_meter.core.validation import canonical_uuid, http_url, is_loopback_host, is_uuid, is_uuid_text

TENANT = "12345678-1234-1234-1234-123456789abc"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("meter.example.com", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


def test_a_url_loses_blanks_and_trailing_slashes():
    assert http_url("  https://dify.example.com/// ") == "https://dify.example.com"


@pytest.mark.parametrize("url", ["dify.example.com", "ftp://dify.example.com", "https://", "127.0.0.1:5001"])
def test_a_url_needs_http_or_https_and_a_host(url):
    with pytest.raises(ValueError, match=f"expected an http\\(s\\) URL such as https://host.example.com, got '{url}'"):
        http_url(url)


def test_plain_http_is_refused_off_loopback_only_when_asked():
    assert http_url("http://meter.example.com") == "http://meter.example.com"
    assert http_url("http://127.0.0.1:5002/", https_unless_loopback=True) == "http://127.0.0.1:5002"
    with pytest.raises(ValueError, match=r"must use https:// \(http:// is allowed only for loopback hosts\)"):
        http_url("http://meter.example.com", https_unless_loopback=True)


def test_any_uuid_spelling_becomes_the_canonical_form():
    assert canonical_uuid(" {12345678-1234-1234-1234-123456789ABC} ") == TENANT
    assert canonical_uuid("123456781234123412341234567890ab".upper()) == "12345678-1234-1234-1234-1234567890ab"


@pytest.mark.parametrize("value", ["tenant-1", "", None, 42])
def test_what_is_no_uuid_is_refused_with_an_example(value):
    with pytest.raises(ValueError, match=f"expected a UUID such as {TENANT}, got {value!r}"):
        canonical_uuid(value)
    assert not is_uuid(value)
    assert not is_uuid_text(value)


def test_the_wire_form_is_stricter_than_python():
    assert is_uuid("{" + TENANT + "}") and not is_uuid_text("{" + TENANT + "}")
    assert is_uuid_text(TENANT.upper())

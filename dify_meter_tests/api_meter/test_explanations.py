import pytest

from dify_meter.api_meter.explanations import EXPLANATIONS, explain, explanation_for

ENDPOINT = "https://meter.example.com/v1/usage"
TENANT = "12345678-1234-1234-1234-123456789abc"


@pytest.mark.parametrize(
    ("status", "row"),
    [
        (400, 400),
        (401, 401),
        (403, 403),
        (404, 404),
        (405, 405),
        (413, 413),
        (301, "redirect"),
        (308, "redirect"),
        (429, "transient"),
        (500, "transient"),
        (504, "transient"),
        (501, "unexpected"),
        (418, "unexpected"),
    ],
)
def test_each_status_has_one_row(status, row):
    assert explanation_for(status) is EXPLANATIONS[row]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 302, 503, 418])
def test_every_row_fills_in_its_facts(status):
    text = explain(
        status,
        endpoint=ENDPOINT,
        tenant_id=TENANT,
        body="busy",
        location="https://elsewhere",
        record="record 0",
        error="bad total",
    )
    assert "{" not in text and "}" not in text
    assert str(status) in text


def test_the_setting_to_check_is_named():
    assert explain(401, endpoint=ENDPOINT, tenant_id=TENANT) == (
        "API_Meter refused the token (HTTP 401): the bearer token is wrong, expired or missing. Check "
        f"API_METER_TOKEN: it is the bearer token API_Meter issued for tenant {TENANT}."
    )
    assert explain(404, endpoint=ENDPOINT, tenant_id=TENANT) == (
        f"API_Meter answered 404 Not Found for POST {ENDPOINT}: the URL is wrong. Check API_METER_URL: it is the "
        "base URL of API_Meter; the exporter appends /v1/usage."
    )

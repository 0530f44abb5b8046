"""The Outlook manifest validates against Microsoft's published schemas (lxml, no network)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from dealpulse.cli import build_cli
from dealpulse.config import PROJECT_ROOT
from dealpulse.web.outlook import ManifestError, render_manifest

XSD_DIR = Path(os.environ.get("DEALPULSE_VENDOR_DIR", PROJECT_ROOT.parent / "shared" / "vendor")) / "outlook-manifest-xsd"
CLIENT_ID = "0f1d2c3b-4a59-4687-9b8a-7c6d5e4f3a21"
NS = {"o": "http://schemas.microsoft.com/office/appforoffice/1.1",
      "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
      "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0"}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """Microsoft's manifest schema set from ../shared/vendor (the test skips when it is not there)."""
    main = XSD_DIR / "OfficeAppManifestV1_1.xsd"
    if not main.is_file():
        pytest.skip(f"the Outlook manifest schemas are not at {XSD_DIR} (see ../shared/vendor/README.md)")
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(main), parser))


def _parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode("utf-8"), etree.XMLParser(no_network=True))


def test_the_checked_in_manifest_is_valid(schema):
    document = _parse((PROJECT_ROOT / "manifest.xml").read_text(encoding="utf-8"))
    assert schema.validate(document), schema.error_log


def test_a_manifest_for_any_https_base_url_is_valid_and_points_there(schema):
    xml = render_manifest("https://sales.example.org/dealpulse/", CLIENT_ID)
    document = _parse(xml)
    assert schema.validate(document), schema.error_log
    assert document.xpath("string(o:FormSettings/o:Form/o:DesktopSettings/o:SourceLocation/@DefaultValue)", namespaces=NS) \
        == "https://sales.example.org/dealpulse/addin/outlook/taskpane.html"
    assert document.xpath("string(//v11:WebApplicationInfo/v11:Id)", namespaces=NS) == CLIENT_ID
    assert document.xpath("string(//v11:WebApplicationInfo/v11:Resource)", namespaces=NS) == \
        f"api://sales.example.org/{CLIENT_ID}"
    assert document.xpath("string(//v11:SupportsPinning)", namespaces=NS) == "true"
    assert document.xpath("string(//v11:ExtensionPoint/@xsi:type)",
                          namespaces={**NS, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}) == "MessageReadCommandSurface"
    for url in document.xpath("//@DefaultValue", namespaces=NS):
        if url.startswith("http"):
            assert url.startswith("https://sales.example.org/dealpulse/")


def test_the_schema_catches_mistakes_in_the_nested_overrides(schema):
    broken = render_manifest("https://dealpulse.example.com", CLIENT_ID).replace("<SupportsPinning>", "<SupportPinning>") \
        .replace("</SupportsPinning>", "</SupportPinning>")
    assert not schema.validate(_parse(broken))


def test_the_backend_serves_the_manifest_and_the_icons_it_names(client, schema):
    response = client.get("/manifest.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    document = _parse(response.get_data(as_text=True))
    assert schema.validate(document), schema.error_log
    icons = {re.sub(r"^https?://[^/]+", "", u) for u in document.xpath("//@DefaultValue") if u.endswith(".png")}
    assert len(icons) == 5
    for path in icons:
        with client.get(path) as image:
            assert image.status_code == 200 and image.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("url", ["http://dealpulse.example.com", "ftp://x", "dealpulse.example.com", "https://x/?a=1"])
def test_unusable_base_urls_are_refused(url):
    with pytest.raises(ManifestError):
        render_manifest(url, CLIENT_ID)


def test_the_manifest_command_writes_a_valid_file(tmp_path, schema):
    target = tmp_path / "manifest.xml"
    result = CliRunner().invoke(build_cli(), ["manifest", "--base-url", "https://crm.example.net", "--client-id", CLIENT_ID,
                                              "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert schema.validate(_parse(target.read_text(encoding="utf-8")))
    bad = CliRunner().invoke(build_cli(), ["manifest", "--base-url", "http://crm.example.net", "--output", str(target)])
    assert bad.exit_code != 0 and "https" in bad.output
